// Trace entries received but not yet taken into the tree's model. A saved trace of 100,000
// entries arrives in one message; taking it in at once would block the page for a long task, so
// the view drains this inbox within a time budget per frame (trace-view.js: flush).

/** Entries taken in between two looks at the clock. */
const STEP = 128;

export class EntryInbox {
  /** @param {() => number} clock ms */
  constructor(clock) {
    this.clock = clock;
    this.clear();
  }

  clear() {
    /** @type {Array<any>[]} batches as they came, oldest first */
    this.batches = [];
    /** entries of batches[0] already taken in */
    this.pos = 0;
    /** the run ended: applied to the model once every queued entry is in */
    this.wantFinal = false;
  }

  /** Batches still waiting (0: all taken in). */
  get length() {
    return this.batches.length;
  }

  /** @param {Array<any>} entries */
  push(entries) {
    if (entries.length) this.batches.push(entries);
  }

  /**
   * Take queued entries into `model` until `budgetMs` is spent; once all are in, apply the final flag.
   * @param {import("./trace-model.js").TraceModel} model
   * @param {number} budgetMs
   * @returns {boolean} whether some still wait
   */
  drainInto(model, budgetMs) {
    const start = this.clock();
    while (this.batches.length) {
      const batch = this.batches[0];
      while (this.pos < batch.length) {
        const end = Math.min(batch.length, this.pos + STEP);
        model.add(batch, this.pos, end);
        this.pos = end;
        if (this.clock() - start > budgetMs) break;
      }
      if (this.pos < batch.length) break;
      this.batches.shift();
      this.pos = 0;
    }
    const waiting = this.batches.length > 0;
    if (!waiting && model.final !== this.wantFinal) model.setFinal(this.wantFinal);
    return waiting;
  }
}
