/**
 * What `work` returns, or its error, as a promise: a fake's errors arrive as rejections, as
 * its adapter's do. `failWith` set: every call is refused with it (the store is down).
 */
export function answer<T>(failWith: Error | undefined, work: () => T): Promise<T> {
  if (failWith) return Promise.reject(failWith);
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
