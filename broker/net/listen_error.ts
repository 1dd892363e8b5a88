/**
 * Binding a listener fails for reasons an operator fixes (the port is taken, the address is not
 * this machine's, the port needs privileges). This names the listener and the address, so the
 * start-up error says which setting to change.
 *
 * @module
 */

/** A listener could not bind its address. */
export class ListenError extends Error {
  readonly code = "LISTEN_FAILED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
  }
}

/**
 * Runs `bind`, turning the runtime's bind errors into a {@linkcode ListenError} that names
 * `what` (for example "Kafka TCP listener") and `hostname:port`.
 *
 * @example
 * ```ts
 * import { bindOrExplain, ListenError } from "./listen_error.ts";
 * const first = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const { port } = first.addr as Deno.NetAddr;
 * try {
 *   bindOrExplain("Kafka TCP listener", "127.0.0.1", port, () => Deno.listen({ hostname: "127.0.0.1", port }));
 *   throw new Error("expected the bind to fail");
 * } catch (e) {
 *   if (!(e instanceof ListenError) || !/already in use/.test(e.message)) throw e;
 * } finally {
 *   first.close();
 * }
 * ```
 */
export function bindOrExplain<T>(what: string, hostname: string, port: number, bind: () => T): T {
  try {
    return bind();
  } catch (error) {
    const where = `${hostname}:${port}`;
    if (error instanceof Deno.errors.AddrInUse) {
      throw new ListenError(
        `Cannot start the ${what} on ${where}: the address is already in use by another process`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new ListenError(
        `Cannot start the ${what} on ${where}: the address is not one of this machine's`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new ListenError(
        `Cannot start the ${what} on ${where}: permission denied (ports below 1024 need privileges)`,
        { cause: error },
      );
    }
    throw error;
  }
}
