/**
 * A temporary directory that is removed, with everything in it, when its scope ends, so a test
 * that keeps a directory across broker restarts still leaves nothing behind.
 *
 * @module
 */

/** A temporary directory owned by one test scope. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

/**
 * Creates a temporary directory; `await using` removes it at the end of the scope.
 *
 * @example
 * ```ts
 * await using dir = await tempDir("rustmq-example-");
 * await Deno.writeTextFile(`${dir.path}/a`, "x");
 * ```
 */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
