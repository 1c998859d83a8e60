/**
 * Values computed from long strings (a repository file's text), cached by the string itself, for
 * work that every pass of an instance repeats on the same files. Bounded by the characters of the
 * strings it keeps (which it holds alive); the oldest goes first.
 */

/** A cache of `make(text)` by text, holding at most `limitChars` characters of texts. */
export class TextCache<V> {
  readonly #values = new Map<string, V>();
  readonly #limit: number;
  #chars = 0;

  constructor(limitChars: number) {
    this.#limit = limitChars;
  }

  /** The cached value for `text`, made (and kept, dropping the oldest over the limit) when missing. */
  get(text: string, make: (text: string) => V): V {
    let value = this.#values.get(text);
    if (value === undefined) {
      value = make(text);
      this.#values.set(text, value);
      this.#chars += text.length;
      for (const old of this.#values.keys()) {
        if (this.#chars <= this.#limit) break;
        this.#values.delete(old);
        this.#chars -= old.length;
      }
    }
    return value;
  }
}
