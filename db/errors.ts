/** True when MySQL refused a write for a unique key; drizzle wraps the driver's error in `cause`. */
export function isDuplicateKey(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === 'ER_DUP_ENTRY') return true;
  }
  return false;
}
