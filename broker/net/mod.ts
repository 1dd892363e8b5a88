/**
 * Broker network listeners: Kafka frames over TCP/TLS and QUIC, and the
 * development certificates `standalone` serves them with.
 *
 * @module
 */
export { DEV_CERT_HOSTNAMES, ensureDevCertificates, generateDevCertificates } from "./dev_certs.ts";
export type {
  DevCertificateFiles,
  DevCertificates,
  GenerateDevCertificatesOptions,
} from "./dev_certs.ts";
export {
  consoleNetLogger,
  MIN_REQUEST_BYTES,
  newNetCounters,
  silentNetLogger,
  withFields,
} from "./frame_handler.ts";
export type {
  ConnectionContext,
  FrameHandler,
  NetCounters,
  NetLogger,
  TransportKind,
} from "./frame_handler.ts";
export { listenQuic, QUIC_ALPN, QuicCloseCode, QuicListener } from "./quic_listener.ts";
export type { QuicListenerOptions } from "./quic_listener.ts";
export { listenTcp, TcpListener } from "./tcp_listener.ts";
export type { ListenerCloseOptions, TcpListenerOptions } from "./tcp_listener.ts";
