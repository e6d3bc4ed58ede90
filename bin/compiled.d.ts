export declare const compiledCli: URL;
export declare function compiledState(): 'missing' | 'stale' | 'fresh';
