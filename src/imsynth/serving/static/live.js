// Live synthesis: edits ask for a run after a quiet moment (debounce), and at most one run is in
// flight. Asks that arrive while a run is in flight leave one follow-up run queued; it starts when
// the run ends and reads the layout then, so the newest edit supersedes every queued one.
"use strict";

export class LiveRunner {
  constructor(task, delayMs, onBusy = () => {}) {
    this.task = task;          // async () => void: one synthesis of the current layout
    this.delayMs = delayMs;
    this.onBusy = onBusy;      // (busy: boolean) => void, for the page's status
    this.timer = null;
    this.running = false;
    this.queued = false;
  }

  get busy() { return this.timer !== null || this.running || this.queued; }

  // After an edit: run once nothing has changed for delayMs.
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runNow(), this.delayMs);
    this.onBusy(true);
  }

  // Run now, or right after the run in flight.
  runNow() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.running) {
      this.queued = true;
      return;
    }
    this.running = true;
    this.queued = false;
    this.onBusy(true);
    Promise.resolve()
      .then(this.task)
      .catch(() => {})  // the task reports its own errors
      .finally(() => {
        this.running = false;
        if (this.queued) this.runNow();
        else this.onBusy(this.busy);
      });
  }
}
