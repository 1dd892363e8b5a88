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
import type { AclBinding } from "./acl_authorizer.ts";
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

/** Matches ACLs for DescribeAcls and DeleteAcls; an absent field matches anything. */
export interface AclFilter {
  readonly resourceType?: AclBinding["resourceType"];
  readonly resourceName?: string;
  /** LITERAL or PREFIXED match exactly; `MATCH` matches any ACL that applies to the name. */
  readonly patternType?: AclBinding["patternType"] | "MATCH";
  readonly principal?: string;
  readonly host?: string;
  readonly operation?: AclBinding["operation"];
  readonly permission?: AclBinding["permission"];
}

/** Users and ACLs of one broker. */
export class SecurityStore {
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

function _same(a: AclBinding, b: AclBinding): boolean {
  return a.resourceType === b.resourceType && a.resourceName === b.resourceName &&
    a.patternType === b.patternType && a.principal === b.principal && a.host === b.host &&
    a.operation === b.operation && a.permission === b.permission;
}

/** Whether `acl` matches `filter` (Kafka's AclBindingFilter semantics). */
export function aclMatches(acl: AclBinding, filter: AclFilter): boolean {
  if (filter.resourceType !== undefined && acl.resourceType !== filter.resourceType) return false;
  if (filter.patternType === "MATCH") {
    if (filter.resourceName !== undefined && !_applies(acl, filter.resourceName)) return false;
  } else {
    if (filter.patternType !== undefined && acl.patternType !== filter.patternType) return false;
    if (filter.resourceName !== undefined && acl.resourceName !== filter.resourceName) return false;
  }
  if (filter.principal !== undefined && acl.principal !== filter.principal) return false;
  if (filter.host !== undefined && acl.host !== filter.host) return false;
  if (filter.operation !== undefined && acl.operation !== filter.operation) return false;
  return filter.permission === undefined || acl.permission === filter.permission;
}

function _applies(acl: AclBinding, name: string): boolean {
  if (acl.patternType === "PREFIXED") return name.startsWith(acl.resourceName);
  return acl.resourceName === "*" || acl.resourceName === name;
}
