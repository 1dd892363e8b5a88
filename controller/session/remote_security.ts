/**
 * The users and ACLs of the controller's metadata, as a broker in a cluster sees them: read from
 * its session's cache, changed by proposing a command to the controllers (answered once it is
 * committed and the cache shows it).
 *
 * @module
 */

import type { AclBinding, ScramUsers } from "../../model/security_metadata.ts";
import { MetadataError } from "../metadata/errors.ts";
import type { ControllerSession } from "./controller_session.ts";

/** Users and ACLs over a controller session. */
export interface RemoteSecurity {
  users(): Readonly<ScramUsers>;
  acls(): readonly AclBinding[];
  propose(cmd: Record<string, unknown>): Promise<unknown>;
}

/** {@linkcode RemoteSecurity} over `session`. */
export function remoteSecurity(session: ControllerSession): RemoteSecurity {
  return {
    users: () => session.cache.users(),
    acls: () => session.cache.acls(),
    propose: async (cmd) => {
      try {
        return await session.write("Propose", { v: 1, cmd });
      } catch (err) {
        if (err instanceof MetadataError) throw err;
        throw new MetadataError("UNAVAILABLE", `Cannot reach the controllers: ${String(err)}`, {
          cause: err,
        });
      }
    },
  };
}
