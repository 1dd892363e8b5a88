/**
 * A cluster broker's users and ACLs: read from the controller's metadata the broker already
 * follows (the `WatchMetadata` image and deltas), and changed by proposing a command to the
 * controllers. A change answers once it is committed through Raft and the broker's own copy
 * shows it, so a client that creates an ACL on one broker and then uses another finds it in
 * force as soon as that broker's copy has caught up (normally within one metadata delta).
 *
 * @module
 */

import type { AclBinding, AclFilter, ScramUsers } from "../../model/security_metadata.ts";
import { aclMatches } from "../../model/security_metadata.ts";
import { fromBase64, type ScramCredential, type ScramMechanism, toBase64 } from "./scram.ts";
import type { SecurityDirectory } from "./security_store.ts";

/** What the controller binding offers: the followed metadata, and a way to change it. */
export interface SecurityMetadataSource {
  /** Users as the broker's metadata copy holds them. */
  users(): Readonly<ScramUsers>;
  /** ACLs as the broker's metadata copy holds them. */
  acls(): readonly AclBinding[];
  /**
   * Proposes a metadata command and resolves with its result once it is committed and visible
   * locally; rejects with the controller's refusal (a MetadataError with a `code`).
   */
  propose(cmd: Record<string, unknown>): Promise<unknown>;
}

/** {@linkcode SecurityDirectory} over the controller's metadata. */
export class ClusterSecurityDirectory implements SecurityDirectory {
  readonly #src: SecurityMetadataSource;

  constructor(source: SecurityMetadataSource) {
    this.#src = source;
  }

  credential(user: string, mechanism: ScramMechanism): ScramCredential | null {
    const users = this.#src.users();
    const c = Object.hasOwn(users, user) ? users[user]?.[mechanism] : undefined;
    if (c === undefined) return null;
    return {
      salt: fromBase64(c.salt),
      iterations: c.iterations,
      storedKey: fromBase64(c.storedKey),
      serverKey: fromBase64(c.serverKey),
    };
  }

  users(): { user: string; credentials: { mechanism: ScramMechanism; iterations: number }[] }[] {
    return Object.entries(this.#src.users()).map(([user, creds]) => ({
      user,
      credentials: Object.entries(creds).map(([mechanism, c]) => ({
        mechanism: mechanism as ScramMechanism,
        iterations: c!.iterations,
      })),
    }));
  }

  get acls(): readonly AclBinding[] {
    return this.#src.acls();
  }

  async upsertCredential(
    user: string,
    mechanism: ScramMechanism,
    cred: ScramCredential,
  ): Promise<void> {
    await this.#src.propose({
      v: 1,
      op: "upsert_scram_credential",
      user,
      mechanism,
      credential: {
        salt: toBase64(cred.salt),
        iterations: cred.iterations,
        storedKey: toBase64(cred.storedKey),
        serverKey: toBase64(cred.serverKey),
      },
    });
  }

  async deleteCredential(user: string, mechanism: ScramMechanism): Promise<boolean> {
    try {
      await this.#src.propose({ v: 1, op: "delete_scram_credentials", user, mechanism });
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === "NOT_FOUND") return false;
      throw err;
    }
  }

  async addAcls(bindings: readonly AclBinding[]): Promise<void> {
    if (bindings.length === 0) return;
    await this.#src.propose({ v: 1, op: "create_acls", acls: [...bindings] });
  }

  matchAcls(filter: AclFilter): AclBinding[] {
    return this.#src.acls().filter((a) => aclMatches(a, filter));
  }

  async deleteAcls(filter: AclFilter): Promise<AclBinding[]> {
    const r = await this.#src.propose({ v: 1, op: "delete_acls", filters: [filter] }) as {
      removed: AclBinding[][];
    };
    return r.removed[0] ?? [];
  }
}
