/**
 * Client-side frame transports: Kafka request/response frames over TCP, TLS
 * or QUIC. The SDK builds on {@linkcode connect} and {@linkcode Transport}.
 *
 * @module
 */
export { connect, DEFAULT_PORT, parseTransportUrl, RUSTMQ_ALPN } from "./connect.ts";
export type { ConnectOptions, TransportAddress } from "./connect.ts";
export {
  ConnectionError,
  FrameTooLargeError,
  QueueFullError,
  TimeoutError,
  TransportError,
} from "./errors.ts";
export type { TransportErrorCode } from "./errors.ts";
export {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  encodeFrameParts,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  joinPayload,
  payloadLength,
  requestCorrelationId,
  responseCorrelationId,
} from "./frame_decoder.ts";
export type { FrameDecoderOptions, FramePayload } from "./frame_decoder.ts";
export { QuicTransport } from "./quic_transport.ts";
export { TcpTransport } from "./tcp_transport.ts";
export type { RequestOptions, Transport, TransportLimits, TransportProtocol } from "./transport.ts";
