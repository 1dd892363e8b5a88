/**
 * Returns `value ?? fallback` after checking it is a positive integer, so a
 * bad configuration fails at start-up with a `RangeError` naming the option.
 */
export function _validateLimit(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) {
    throw new RangeError(
      `Cannot use ${name} as it must be a positive integer: current value is ${resolved}`,
    );
  }
  return resolved;
}
