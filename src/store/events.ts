// What the store tells the operator about, through the log (src/runtime.ts):
// rare events, each said once, never once per request.
export type StoreEvent =
  /** A file or folder of the store that others could read was made private (an older version made it so). */
  | { kind: "mode-tightened"; path: string; from: number; to: number }
  /** The data folder can be read by others but holds more than ssod's files, so its mode is left alone. */
  | { kind: "folder-left-open"; path: string; mode: number }
  /** A write failed because the disk is full: an incident begins (said once, however many writes fail in it). */
  | { kind: "writes-refused"; since: Date; reason: string }
  /** Writes have gone through again, with no refusal for a quiet while: the incident that began at `since` is over. */
  | { kind: "writes-accepted"; since: Date; refusedForMs: number; failedWrites: number };

export type StoreEventListener = (event: StoreEvent) => void;
