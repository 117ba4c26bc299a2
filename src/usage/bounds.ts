/**
 * The bounds of what a meter keeps (src/usage/json-scan.ts): each is far above what a
 * provider sends (a `usage` object is a few hundred bytes) and far below what would
 * matter for memory. A value beyond its bound makes the reading `too_large`.
 */
export const USAGE_CAP = 16 * 1024;
export const MODEL_CAP = 512;
export const TYPE_CAP = 128;
/**
 * A non-streamed body, or one event of a stream, up to this size is read whole with
 * JSON.parse — native, and ten times faster than scanning small documents byte by byte
 * in JavaScript; a larger one is scanned (json-scan.ts) from then on, keeping only the
 * capped values. Either way a meter never holds more than this plus its caps.
 */
export const WHOLE_BODY_CAP = 64 * 1024;
export const WHOLE_EVENT_CAP = 16 * 1024;
