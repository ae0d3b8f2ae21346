/** How a TOML value reads in a "must be X, got Y" message: its TOML type, and the value when short. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return `integer ${v}`;
    return `float ${Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v}`;
  }
  // @iarna/toml boxes integers beyond 2^53 as BigInt (wrapped to 64 bits), so the value shown would lie.
  if (typeof v === 'bigint') return 'an integer out of range';
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (v instanceof Date) return 'a datetime';
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object') return 'a table';
  return String(v);
}

export function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}
