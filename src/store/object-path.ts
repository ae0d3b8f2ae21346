/** A lowercase hex SHA-256: the name of every object. */
export const HASH_RE = /^[0-9a-f]{64}$/;

/** SHA-256 of zero bytes: the seed object and every empty output. */
export const EMPTY_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * The one place that maps a hash to its file: objects/AB/CD/<the other 60 chars>.
 * Two levels of 256 keep every directory small even at tens of millions of objects.
 */
export function objectRelPath(hash: string): string {
  return `objects/${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash.slice(4)}`;
}

export function objectShardDir(hash: string): string {
  return `objects/${hash.slice(0, 2)}/${hash.slice(2, 4)}`;
}
