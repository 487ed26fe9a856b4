// How far the server's old generation may fill before V8 collects it. A token
// server keeps little alive (≈ 30 MB with its code), but V8 sizes its heap for
// a process with 4 GB to spare: under load it let the old generation fill to
// three times what had survived before collecting, and RSS reached 230 MB
// (npm run bench), most of it garbage. The growth factor is read at each full
// collection, so setting it here, before any load, takes effect; the size
// limits are fixed when the heap is made, and so is the young generation's
// growth in practice (setting --semi-space-growth-factor here changed nothing).
import { setFlagsFromString } from "node:v8";

export function keepHeapGrowthSmall(): void {
  // After each full collection, the next is due at 1.2× what survived, not at up to 4×.
  setFlagsFromString("--heap-growing-percent=20");
}
