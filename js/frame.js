// One callback per animation frame, however many times it is requested in
// between: a burst of kernel messages becomes one DOM update.

/**
 * @param {(time: number) => void} callback
 * @param {{raf?: (fn: FrameRequestCallback) => any, caf?: (handle: any) => void}} [opts]
 *   raf/caf: injectable for tests; default requestAnimationFrame, or a 16 ms
 *   timeout where there is none
 * @returns {{request(): void, cancel(): void, readonly pending: boolean}}
 */
export function createFrameScheduler(callback, opts = {}) {
  const hasRaf = typeof globalThis.requestAnimationFrame === "function";
  const raf =
    opts.raf ??
    (hasRaf
      ? (fn) => globalThis.requestAnimationFrame(fn)
      : (fn) => setTimeout(() => fn(typeof performance !== "undefined" ? performance.now() : Date.now()), 16));
  const caf = opts.caf ?? (hasRaf && !opts.raf ? (h) => globalThis.cancelAnimationFrame(h) : (h) => clearTimeout(h));
  let handle = null;
  return {
    request() {
      if (handle !== null) return;
      handle = raf((t) => {
        handle = null;
        callback(t);
      });
    },
    cancel() {
      if (handle !== null) caf(handle);
      handle = null;
    },
    get pending() {
      return handle !== null;
    },
  };
}
