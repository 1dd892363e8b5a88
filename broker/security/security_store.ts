/**
 * The broker's users (SCRAM credentials) and ACLs, kept in memory for per-request checks and
 * persisted as one JSON file (`security.json` in the broker's data directory) on every change.
 * A change is visible to the next request on every connection: nothing is cached per
 * connection, so an ACL added or removed applies without reconnecting.
 *
 * Only salts, iteration counts, StoredKey and ServerKey are stored, never a password or a
 * salted password.
 *
 * @module
 */

import type { MetadataPersistence } from "../metadata/local_metadata.ts";
import {
  type AclBinding,
  type AclFilter,
  aclMatches,
  sameAcl as _same,
} from "../../model/security_metadata.ts";

export { type AclFilter, aclMatches };
import { fromBase64, type ScramCredential, type ScramMechanism, toBase64 } from "./scram.ts";

interface _StoredCredential {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

interface _File {
  v: 1;
  users: Record<string, Partial<Record<ScramMechanism, _StoredCredential>>>;
  acls: AclBinding[];
}

/**
 * Where a broker reads and changes users and ACLs: its own file (standalone), or the
 * controller's metadata (a cluster broker; see cluster_security_directory.ts).
 */
export interface SecurityDirectory {
  /** The credential of `user` for `mechanism`, or null. */
  credential(user: string, mechanism: ScramMechanism): ScramCredential | null;
  /** Every user with the mechanisms and iterations of their credentials. */
  users(): { user: string; credentials: { mechanism: ScramMechanism; iterations: number }[] }[];
  /** The current ACLs (the authorizer reads them on every request). */
  readonly acls: readonly AclBinding[];
  /** Sets (or replaces) a user's credential for one mechanism. */
  upsertCredential(user: string, mechanism: ScramMechanism, cred: ScramCredential): Promise<void>;
  /** Removes a user's credential for one mechanism; false when there was none. */
  deleteCredential(user: string, mechanism: ScramMechanism): Promise<boolean>;
  /** Adds ACLs; one already present is not added twice. */
  addAcls(bindings: readonly AclBinding[]): Promise<void>;
  /** The ACLs `filter` matches. */
  matchAcls(filter: AclFilter): AclBinding[];
  /** Removes and returns the ACLs `filter` matches. */
  deleteAcls(filter: AclFilter): Promise<AclBinding[]>;
}

/** Users and ACLs of one broker, in its data directory. */
export class SecurityStore implements SecurityDirectory {
  readonly #persistence: MetadataPersistence;
  #file: _File;

  private constructor(persistence: MetadataPersistence, file: _File) {
    this.#persistence = persistence;
    this.#file = file;
  }

  /** Loads the store (an absent file is an empty store). */
  static async open(persistence: MetadataPersistence): Promise<SecurityStore> {
    const text = await persistence.load();
    const file: _File = text === null ? { v: 1, users: {}, acls: [] } : JSON.parse(text);
    if (file.v !== 1) throw new RangeError(`Cannot read security.json as its version is ${file.v}`);
    return new SecurityStore(persistence, file);
  }

  /** The credential of `user` for `mechanism`, or null. */
  credential(user: string, mechanism: ScramMechanism): ScramCredential | null {
    const c = this.#file.users[user]?.[mechanism];
    if (c === undefined) return null;
    return {
      salt: fromBase64(c.salt),
      iterations: c.iterations,
      storedKey: fromBase64(c.storedKey),
      serverKey: fromBase64(c.serverKey),
    };
  }

  /** Every user with the mechanisms and iterations of their credentials. */
  users(): { user: string; credentials: { mechanism: ScramMechanism; iterations: number }[] }[] {
    return Object.entries(this.#file.users).map(([user, creds]) => ({
      user,
      credentials: Object.entries(creds).map(([mechanism, c]) => ({
        mechanism: mechanism as ScramMechanism,
        iterations: c!.iterations,
      })),
    }));
  }

  /** Sets (or replaces) a user's credential for one mechanism. */
  async upsertCredential(
    user: string,
    mechanism: ScramMechanism,
    cred: ScramCredential,
  ): Promise<void> {
    const creds = this.#file.users[user] ?? {};
    creds[mechanism] = {
      salt: toBase64(cred.salt),
      iterations: cred.iterations,
      storedKey: toBase64(cred.storedKey),
      serverKey: toBase64(cred.serverKey),
    };
    this.#file.users[user] = creds;
    await this.#save();
  }

  /** Removes a user's credential for one mechanism; false when there was none. */
  async deleteCredential(user: string, mechanism: ScramMechanism): Promise<boolean> {
    const creds = this.#file.users[user];
    if (creds?.[mechanism] === undefined) return false;
    delete creds[mechanism];
    if (Object.keys(creds).length === 0) delete this.#file.users[user];
    await this.#save();
    return true;
  }

  /** The current ACLs (the authorizer reads them on every request). */
  get acls(): readonly AclBinding[] {
    return this.#file.acls;
  }

  /** Adds ACLs; one already present is not added twice. */
  async addAcls(bindings: readonly AclBinding[]): Promise<void> {
    for (const b of bindings) {
      if (!this.#file.acls.some((a) => _same(a, b))) this.#file.acls.push({ ...b });
    }
    await this.#save();
  }

  /** The ACLs `filter` matches. */
  matchAcls(filter: AclFilter): AclBinding[] {
    return this.#file.acls.filter((a) => aclMatches(a, filter));
  }

  /** Removes and returns the ACLs `filter` matches. */
  async deleteAcls(filter: AclFilter): Promise<AclBinding[]> {
    const removed = this.matchAcls(filter);
    if (removed.length === 0) return [];
    this.#file.acls = this.#file.acls.filter((a) => !aclMatches(a, filter));
    await this.#save();
    return removed;
  }

  async #save(): Promise<void> {
    await this.#persistence.save(JSON.stringify(this.#file, null, 2));
  }
}
