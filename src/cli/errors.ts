/** One line for an error an administrator can act on; a stack only with RPCGW_DEBUG=1. */
export function describeError(err: unknown): string {
  if (process.env.RPCGW_DEBUG === '1' && err instanceof Error && err.stack) return err.stack;
  if (err instanceof Error) {
    const format = (err as { format?: () => string }).format;
    if (typeof format === 'function') return format.call(err);
    return err.message;
  }
  return String(err);
}
