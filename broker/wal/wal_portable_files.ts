/**
 * File operations shared by the real backends (listing, reading, truncating, deleting, syncing
 * directories) through Deno's file API. Reads at recovery do not need direct I/O.
 *
 * @module
 */

/** Lists the file names in `dir`, creating it when missing. */
export async function listDir(dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  return names;
}

/** Cuts `path` to `length` and makes it durable. */
export async function truncateDurably(path: string, length: number): Promise<void> {
  using file = await Deno.open(path, { write: true });
  await file.truncate(length);
  await file.sync();
}

/** fsyncs a file that is already on disk. */
export async function syncFile(path: string): Promise<void> {
  using file = await Deno.open(path, { write: true });
  await file.syncData();
}

/** fsyncs a directory so that creations and deletions in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return; // Directories cannot be opened for sync there.
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}
