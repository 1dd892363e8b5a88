/**
 * Cluster authentication on the controller's gRPC ports (Raft and BrokerService): the caller
 * puts the cluster secret in the `x-rustmq-cluster-secret` metadata of every call, and the
 * server refuses a call without the right one with UNAUTHENTICATED before any handler runs.
 * See ops/cluster_secret.ts for why a shared secret.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";
import type { Logger } from "../../ops/logger.ts";

/** The metadata key that carries the cluster secret. */
export const CLUSTER_SECRET_METADATA_KEY = "x-rustmq-cluster-secret";

/** Refusals logged per peer address at most once in this many ms, so a retry loop cannot flood. */
const _LOG_EVERY_MS = 10_000;
const _LOGGED_PEERS_MAX = 1024;

/**
 * A server interceptor that lets a call through only when its metadata carries `secret`.
 * Without a secret configured there is no interceptor at all (see {@linkcode serverInterceptors}).
 */
export function clusterAuthServerInterceptor(
  secret: ClusterSecret,
  log: Logger,
  plane: string,
): grpc.ServerInterceptor {
  const lastLogged = new Map<string, number>();
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const presented = metadata.get(CLUSTER_SECRET_METADATA_KEY)[0];
        if (secret.matches(typeof presented === "string" ? presented : null)) {
          next(metadata);
          return;
        }
        const peer = call.getPeer();
        const reason = presented === undefined ? "no cluster secret" : "a wrong cluster secret";
        _logRefusal(lastLogged, peer, () =>
          log.warn(`refused an unauthenticated ${plane} peer`, {
            peer,
            method: method.path,
            reason: `it presented ${reason}`,
          }));
        call.sendStatus({
          code: grpc.status.UNAUTHENTICATED,
          details:
            `Cannot accept the ${plane} call as the caller presented ${reason}: set security.cluster_secret_file to this cluster's secret`,
          metadata: new grpc.Metadata(),
        });
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}

function _logRefusal(lastLogged: Map<string, number>, peer: string, write: () => void): void {
  const now = performance.now();
  const last = lastLogged.get(peer);
  if (last !== undefined && now - last < _LOG_EVERY_MS) return;
  if (lastLogged.size >= _LOGGED_PEERS_MAX) lastLogged.clear();
  lastLogged.set(peer, now);
  write();
}

/** The `interceptors` server option for `secret` (none when the cluster has no secret). */
export function serverInterceptors(
  secret: ClusterSecret | null,
  log: Logger,
  plane: string,
): { interceptors?: grpc.ServerInterceptor[] } {
  return secret === null
    ? {}
    : { interceptors: [clusterAuthServerInterceptor(secret, log, plane)] };
}

/** A client interceptor that adds the cluster secret to every call's metadata. */
export function clusterAuthClientInterceptor(secret: ClusterSecret): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(CLUSTER_SECRET_METADATA_KEY, secret.reveal());
        next(metadata, listener);
      },
    });
}

/** The client options that present `secret` (nothing when the cluster has no secret). */
export function clientInterceptors(
  secret: ClusterSecret | null,
): { interceptors?: grpc.Interceptor[] } {
  return secret === null ? {} : { interceptors: [clusterAuthClientInterceptor(secret)] };
}
