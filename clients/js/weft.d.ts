// Type definitions for weft.js (weft's WebSocket protocol client).

export declare const Codes: Readonly<{
  UNAUTHENTICATED: 'UNAUTHENTICATED';
  FORBIDDEN: 'FORBIDDEN';
  INVALID_REQUEST: 'INVALID_REQUEST';
  UNKNOWN_SERVICE: 'UNKNOWN_SERVICE';
  DUPLICATE_REQUEST_ID: 'DUPLICATE_REQUEST_ID';
  WORKFLOW_NOT_FOUND: 'WORKFLOW_NOT_FOUND';
  EXECUTION_NOT_FOUND: 'EXECUTION_NOT_FOUND';
  ARTIFACT_NOT_FOUND: 'ARTIFACT_NOT_FOUND';
  CONFLICT: 'CONFLICT';
  /** Retryable: frames over the connection's rate; slow down. */
  RATE_LIMITED: 'RATE_LIMITED';
  /**
   * Not retryable (the client never retries it): a quota (requests in
   * flight per connection, streams included; rooms per connection; stored
   * signals per execution; unfinished executions per workspace).
   */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED';
  WS_MESSAGE_TOO_LARGE: 'WS_MESSAGE_TOO_LARGE';
  WS_CONNECTION_NOT_FOUND: 'WS_CONNECTION_NOT_FOUND';
  WS_MAX_CONNECTIONS_REACHED: 'WS_MAX_CONNECTIONS_REACHED';
  WS_CONNECTION_FAILED: 'WS_CONNECTION_FAILED';
  UNAVAILABLE: 'UNAVAILABLE';
  INTERNAL: 'INTERNAL';
}>;

export type ErrorCode = (typeof Codes)[keyof typeof Codes];

/** A protocol error (PROTOCOL.md section 7). */
export declare class WeftError extends Error {
  constructor(code: ErrorCode | string, message: string, retryable?: boolean);
  readonly code: ErrorCode | string;
  readonly retryable: boolean;
}

/** The outcome of an execution that failed or was cancelled. */
export declare class ExecutionError extends Error {
  readonly executionId: string;
  readonly status: 'failed' | 'cancelled';
  /** The failure code, when there is one. */
  readonly code: string;
  /** The failure message or the cancel reason. */
  readonly reason: string;
}

/** Every method rejects with it once close() has been called. */
export declare class ClosedError extends Error {}

/** Ends an execution's events after Execution.close(). */
export declare class UnsubscribedError extends Error {}

export interface ReconnectPolicy {
  /** Never reconnect: a drop fails everything in flight. */
  disabled?: boolean;
  /** First delay in ms (default 1000). */
  base?: number;
  /** Largest delay in ms (default 30000). */
  max?: number;
  /** Consecutive failed dials before giving up (default: never give up). */
  maxAttempts?: number;
  /** Up to this fraction of each delay is taken off at random (0..1, default 0.5). */
  jitter?: number;
}

/** min(base * 2^n, max) less jitter, in ms. */
export declare function reconnectDelay(policy?: ReconnectPolicy, n?: number): number;

/**
 * The socket URL and HTTP base of a server address, in any form every weft
 * client takes (the cases: clients/testdata/addresses.json):
 * http[s]://host[:port][/prefix], ws[s]://host[:port][/prefix]/api/v1/socket
 * or a bare host[:port] (http); the host lower-cased. Throws a WeftError
 * INVALID_REQUEST naming the address for anything else.
 */
export declare function serverURLs(address: string): { socket: string; http: string };

export type AuthMethod = 'inband' | 'query' | 'subprotocol' | 'header';

export type ConnectionState = 'connected' | 'reconnecting' | 'failed' | 'closed';

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** The subset of the WebSocket API the client uses (browsers' WebSocket, or `ws`). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: { headers?: Record<string, string> },
) => WebSocketLike;

export interface ClientOptions {
  token: string;
  /**
   * How the token is presented (default 'inband': the first frame; works
   * everywhere and reports a wrong token as UNAUTHENTICATED). 'query' and
   * 'subprotocol' work in browsers; 'header' needs a WebSocket that takes
   * headers (Node's `ws`).
   */
  auth?: AuthMethod;
  /** The WebSocket constructor (default globalThis.WebSocket). */
  WebSocket?: WebSocketConstructor | unknown;
  reconnect?: ReconnectPolicy;
  /**
   * Requests (and starts) that wait for the next connection while
   * disconnected; 0 (default) = fail fast with a retryable UNAVAILABLE.
   */
  queueWhileDisconnected?: number;
  /** ms (default 10000). */
  handshakeTimeout?: number;
  /** A connection silent this long (ms) is dropped (default two heartbeat intervals). */
  readTimeout?: number;
  /** An app-level ping is sent this often (ms; default half the heartbeat; 0 = never). */
  pingInterval?: number;
  logger?: Logger;
  /** fetch for the artifact methods' HTTP requests (default globalThis.fetch). */
  fetch?: typeof fetch;
  onStateChange?: (state: ConnectionState, error?: Error) => void;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface Connected {
  connection_id: string;
  identity: string;
  workspace: string;
  scopes: string[];
  heartbeat_interval_ms: number;
  limits: { max_message_bytes: number; messages_per_second: number };
}

export type EventType =
  | 'execution_started' | 'workflow_start' | 'workflow_end' | 'workflow_error'
  | 'task_start' | 'task_end' | 'task_error'
  | 'llm_start' | 'llm_delta' | 'llm_end' | 'llm_error'
  | 'tool_start' | 'tool_end' | 'tool_error'
  | 'signal_waiting' | 'signal_received' | 'timer_started' | 'timer_fired'
  | 'artifact_created'
  | 'execution_completed' | 'execution_failed' | 'execution_cancelled';

export interface WeftEvent<D = any> {
  type: EventType | string;
  execution_id: string;
  workflow: string;
  seq: number;
  timestamp: string;
  details?: D;
  replay: boolean;
}

export interface Snapshot {
  execution_id: string;
  status: 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';
  workflow: string;
  parameters: unknown;
  metadata: unknown;
  result?: unknown;
  error?: { message: string; code?: string };
  steps?: unknown[];
  created_at: string;
  updated_at: string;
  last_seq: number;
}

export interface ListFilter {
  status?: Snapshot['status'];
  workflow?: string;
  /** The executions started with this idempotency key (one per workflow at most). */
  idempotency_key?: string;
  /** RFC 3339 bounds of created_at: after inclusive, before exclusive. */
  created_after?: string;
  created_before?: string;
  /** Each key with this value in the execution's metadata (a string, or another JSON value spelt so). */
  metadata?: Record<string, string>;
  limit?: number;
  cursor?: string;
}

export interface StartOptions extends RequestOptions {
  metadata?: Record<string, unknown>;
  /** Default: a random key, so a start re-sent after a drop starts one execution. */
  idempotencyKey?: string;
}

export interface Message {
  type: 'message' | 'room.message';
  /** Set for room.message. */
  room: string;
  /** Sender connection id, or "workflow:<execution_id>". */
  from: string;
  identity?: string;
  message: unknown;
}

export interface PresenceEvent {
  room: string;
  connection_id: string;
  identity: string;
}

export interface JoinOptions extends RequestOptions {
  /** Ask for room.joined / room.left pushes (default true). */
  presence?: boolean;
  onJoined?: (p: PresenceEvent) => void;
  onLeft?: (p: PresenceEvent) => void;
  onMessage?: (m: Message) => void;
}

export interface BroadcastResult {
  broadcast: boolean;
  delivered_to: number;
  subscriber_count: number;
}

/** An artifact's metadata (PROTOCOL.md section 8). */
export interface ArtifactMeta {
  artifact_id: string;
  name: string;
  size: number;
  /** Hex; also the download's ETag. */
  sha256: string;
  content_type: string;
  created_at: string;
  /** The execution that created it (absent for an upload). */
  execution_id?: string;
}

export interface GetArtifactOptions extends RequestOptions {
  /** An HTTP Range, e.g. 'bytes=0-99' (answered 206). */
  range?: string;
}

export type ArtifactBody = string | ArrayBuffer | ArrayBufferView | Blob | ReadableStream<Uint8Array>;

export interface Member {
  connection_id: string;
  identity: string;
  connected_at: string;
}

export declare class WeftClient {
  /** Connects and authenticates once (rejects with a WeftError); later drops reconnect. */
  /**
   * url: the server's address in any form serverURLs takes
   * (http://127.0.0.1:8080, ws://127.0.0.1:8080/api/v1/socket, 127.0.0.1:8080).
   */
  static connect(url: string, options: ClientOptions): Promise<WeftClient>;
  readonly info: Connected | null;
  readonly connectionId: string;
  readonly connected: boolean;

  start<R = unknown>(workflow: string, parameters?: Record<string, unknown>, options?: StartOptions): Promise<Execution<R>>;
  subscribe<R = unknown>(executionId: string, afterSeq?: number, options?: RequestOptions): Promise<Execution<R>>;
  get(executionId: string, options?: RequestOptions): Promise<Snapshot>;
  list(filter?: ListFilter, options?: RequestOptions): Promise<{ items: Snapshot[]; next_cursor: string }>;
  cancel(executionId: string, reason?: string, options?: RequestOptions): Promise<string>;
  signal(executionId: string, name: string, payload?: unknown, options?: RequestOptions): Promise<boolean>;
  /**
   * Deletes an ended execution (execution.delete, scope executions:write).
   * Rejects with a WeftError: CONFLICT while it has not ended,
   * EXECUTION_NOT_FOUND when unknown, another workspace's or already deleted.
   */
  delete(executionId: string, options?: RequestOptions): Promise<void>;
  workflows(options?: RequestOptions): Promise<{ name: string; description: string; parameters_schema: unknown }[]>;
  ping(options?: RequestOptions): Promise<void>;

  join(room: string, options?: JoinOptions): Promise<Room>;
  broadcast(room: string | null, message: unknown, options?: RequestOptions): Promise<BroadcastResult>;
  members(room: string, options?: RequestOptions): Promise<Member[]>;
  send(connectionId: string, message: unknown, options?: RequestOptions): Promise<void>;
  closeConnection(connectionId: string, reason?: string, options?: RequestOptions): Promise<void>;
  connections(options?: RequestOptions): Promise<{ connection_id: string; identity: string; connected_at: string; rooms: string[] }[]>;

  /** The root of the server's HTTP plane (http://host:port[/prefix]), from the address given to connect. */
  readonly httpBase: string;
  /** The socket URL it dials (ws://host:port[/prefix]/api/v1/socket), from the address given to connect. */
  readonly socketURL: string;
  /**
   * Uploads body (streamed when a ReadableStream) as an artifact (scope
   * artifacts:write). Over --max-artifact-bytes: WS_MESSAGE_TOO_LARGE.
   */
  putArtifact(name: string, contentType: string, body: ArtifactBody, options?: RequestOptions): Promise<ArtifactMeta>;
  /** The download's Response, body unread (ETag = sha256; X-Artifact-Name, X-Artifact-Size). ARTIFACT_NOT_FOUND when unknown. */
  getArtifact(id: string, options?: GetArtifactOptions): Promise<Response>;
  /** The artifact's bytes. */
  getArtifactBytes(id: string, options?: GetArtifactOptions): Promise<ArrayBuffer>;
  /** Deletes an artifact (scope artifacts:write). */
  deleteArtifact(id: string, options?: RequestOptions): Promise<void>;
  /** The workspace's artifacts, newest first. */
  listArtifacts(options?: RequestOptions): Promise<ArtifactMeta[]>;
  /** Metadata over the socket (artifact.get). */
  artifactInfo(id: string, options?: RequestOptions): Promise<ArtifactMeta>;

  /** Registers f for "message" and "room.message" pushes; returns a remover. */
  onMessage(f: (m: Message) => void): () => void;
  /** Any service: resolves with its final response. */
  call<T = any>(service: string, request?: Record<string, unknown>, options?: RequestOptions): Promise<T>;
  /** Closes the connection; pending requests and executions end with ClosedError. */
  close(): void;
}

export declare class Room {
  readonly client: WeftClient;
  readonly name: string;
  /** Members after joining. */
  members: number;
  leave(options?: RequestOptions): Promise<number>;
  broadcast(message: unknown, options?: RequestOptions): Promise<BroadcastResult>;
  listMembers(options?: RequestOptions): Promise<Member[]>;
}

/** One execution's events, once each and in order across reconnects, then its outcome. */
export declare class Execution<R = unknown> implements AsyncIterable<WeftEvent> {
  readonly id: string;
  /** The seq of the last event received. */
  readonly lastSeq: number;
  readonly status: string;
  /** Why the stream stopped (null while running and after a normal end). */
  readonly error: Error | null;
  /** Resolves when the stream has ended; never rejects. */
  readonly done: Promise<void>;
  /** The next event, or null after the last one; rejects if the stream stopped early. */
  next(): Promise<WeftEvent | null>;
  [Symbol.asyncIterator](): AsyncIterator<WeftEvent>;
  /** The result; rejects with ExecutionError (failed/cancelled) or the stream's error. */
  result(): Promise<R>;
  /** Stops following it (it keeps running on the server). */
  close(): void;
}
