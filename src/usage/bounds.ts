/**
 * The bounds of what a meter keeps (src/usage/json-scan.ts): each is far above what a
 * provider sends (a `usage` object is a few hundred bytes) and far below what would
 * matter for memory. A value beyond its bound makes the reading `too_large`.
 */
export const USAGE_CAP = 16 * 1024;
export const MODEL_CAP = 512;
export const TYPE_CAP = 128;
