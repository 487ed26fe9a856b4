// What the store tells the operator about, through the log (src/runtime.ts):
// rare events, each said once, never once per request.
export type StoreEvent =
  /** A file or folder of the store that others could read was made private (an older version made it so). */
  | { kind: "mode-tightened"; path: string; from: number; to: number }
  /** The data folder can be read by others but holds more than ssod's files, so its mode is left alone. */
  | { kind: "folder-left-open"; path: string; mode: number }
  /** A write failed because the disk is full: from now on writes are refused (503) until one succeeds. */
  | { kind: "writes-refused"; since: Date; reason: string }
  /** A write succeeded again after `since`. */
  | { kind: "writes-accepted"; since: Date; refusedForMs: number };

export type StoreEventListener = (event: StoreEvent) => void;
