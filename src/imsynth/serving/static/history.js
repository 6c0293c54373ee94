// Undo and redo: snapshots of the layout before each edit (past) and after each undo (future).
"use strict";

export class History {
  constructor(limit) {
    this.limit = limit;
    this.past = [];    // newest last
    this.future = [];  // newest last: what redo brings back next
  }

  // Before an edit: keep the layout as it was; a new edit forgets what undo had taken back.
  record(snapshot) {
    this.past.push(snapshot);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  undo(current) {
    const previous = this.past.pop();
    if (previous) this.future.push(current);
    return previous ?? null;
  }

  redo(current) {
    const next = this.future.pop();
    if (next) this.past.push(current);
    return next ?? null;
  }

  get canUndo() { return this.past.length > 0; }
  get canRedo() { return this.future.length > 0; }
}
