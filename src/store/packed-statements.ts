// Statements as they cross to the store thread. A message's cost is mostly
// its copying, and a hot batch repeats itself: the same few SQL texts on every
// batch, and one JSON array of rows bound to most of its statements. So each
// SQL text crosses once per thread and is named by number afterwards, and each
// distinct value crosses once per message. (npm run bench:threads -- redeem
// sent ≈ 40 KB per batch before, for a batch of a few redemptions.)
import type { SqlValue, Statement } from "./driver";

/** Texts beyond this many are sent as they are, each time: one-off SQL must not grow the table forever. */
const MAX_NAMED_TEXTS = 1024;

export interface PackedStatements {
  /** SQL texts named here for the first time: [number, text]. */
  named: [number, string][];
  /** Every distinct argument of the message, once. */
  values: SqlValue[];
  /** Each statement: its SQL's number (or the text itself) and its arguments, as positions in `values`. */
  statements: [number | string, number[]][];
}

/** The sending side: remembers which texts the other thread knows. */
export class StatementPacker {
  readonly #numbers = new Map<string, number>();

  pack(statements: readonly Statement[]): PackedStatements {
    const named: [number, string][] = [];
    const values: SqlValue[] = [];
    const positions = new Map<SqlValue, number>();
    const packed = statements.map(({ sql, args }): [number | string, number[]] => {
      let number = this.#numbers.get(sql);
      if (number === undefined && this.#numbers.size < MAX_NAMED_TEXTS) {
        number = this.#numbers.size;
        this.#numbers.set(sql, number);
        named.push([number, sql]);
      }
      const at = args.map((value) => {
        let position = positions.get(value);
        if (position === undefined) {
          position = values.push(value) - 1;
          positions.set(value, position);
        }
        return position;
      });
      return [number ?? sql, at];
    });
    return { named, values, statements: packed };
  }

  /** Forgets the texts a message named that never reached the other thread (its postMessage threw). */
  unsent({ named }: PackedStatements): void {
    for (const [, text] of named) this.#numbers.delete(text);
  }
}

/** The receiving side: the texts named so far. */
export class StatementUnpacker {
  readonly #texts: string[] = [];

  unpack({ named, values, statements }: PackedStatements): Statement[] {
    for (const [number, text] of named) this.#texts[number] = text;
    return statements.map(([sql, at]) => ({ sql: typeof sql === "number" ? this.#texts[sql]! : sql, args: at.map((p) => values[p]!) }));
  }
}
