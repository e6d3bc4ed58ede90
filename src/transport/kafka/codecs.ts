/**
 * kafkajs compression codecs (only gzip is built in). All of them load on every supported Node
 * version (20.19+ and 24): snappy is pure JS, lz4 is N-API (prebuilt, no per-Node build; the old
 * `lz4` package's nan addon failed to load on Node 24), zstd is node:zlib's where the runtime has
 * it (Node >= 22.15) and the pure-JS fzstd decompressor on Node 20.
 */
import kafkajs from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { decompress as fzstdDecompress } from 'fzstd';
import * as zlib from 'node:zlib';
import { promisify } from 'node:util';
import type { KafkaSettings } from '../../config/settings.ts';

const { CompressionCodecs, CompressionTypes } = kafkajs;

type Codec = () => { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> };

/**
 * LZ4 frame format, as Kafka (magic v1+) and the Java clients write it: lz4_flex's frames have
 * independent blocks and no checksums by default, which Kafka's reader accepts.
 */
export const lz4Codec: Codec = () => ({
  compress: ({ buffer }) => compressFrame(buffer),
  decompress: (buffer) => decompressFrame(buffer),
});

type ZstdFn = (buf: Buffer, cb: (err: Error | null, out: Buffer) => void) => void;
// @types/node 20 does not declare zstd; the functions exist from Node 22.15 / 23.8 on.
const nodeZstd = zlib as unknown as { zstdCompress?: ZstdFn; zstdDecompress?: ZstdFn };

/** True when this Node has zstd in node:zlib (compression as well as decompression). */
export const nativeZstd = typeof nodeZstd.zstdCompress === 'function' && typeof nodeZstd.zstdDecompress === 'function';

const zstdCompressNative = nativeZstd ? promisify(nodeZstd.zstdCompress!) : null;
const zstdDecompressNative = nativeZstd ? promisify(nodeZstd.zstdDecompress!) : null;

/**
 * zstd: node:zlib's (both ways) where the runtime has it; on Node 20 only reading, through fzstd
 * (the maintained native zstd codec for kafkajs does not build there, and the engine never writes
 * zstd itself).
 */
export const zstdCodec: Codec = () => ({
  async compress({ buffer }) {
    if (!zstdCompressNative) throw new Error(`zstd compression is not supported on Node ${process.versions.node}: the engine only reads zstd records there (node:zlib has zstd from Node 22.15)`);
    return zstdCompressNative(buffer);
  },
  async decompress(buffer) {
    return zstdDecompressNative ? zstdDecompressNative(buffer) : Buffer.from(fzstdDecompress(buffer));
  },
});

const COMPRESSION_TYPES: Record<KafkaSettings['compression'], kafkajs.CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** kafkajs's code of each `kafka.compression` setting. */
export const compressionType = (name: KafkaSettings['compression']): kafkajs.CompressionTypes => COMPRESSION_TYPES[name];

let registered = false;

/** Registers snappy, lz4 and zstd on kafkajs's (process-wide) codec table, once. */
export function registerCodecs(): void {
  if (registered) return;
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec as () => never;
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec as () => never;
  CompressionCodecs[CompressionTypes.LZ4] = lz4Codec as () => never;
  registered = true;
}
