// The small glob language of --reload-include and --reload-exclude: `*` and `?` match within one
// path segment, `**` across segments (`a/**/b` also matches `a/b`), `[abc]`, `[a-z]` and `[!abc]`
// match one character of a class, and `\` takes the next character literally. Everything else is
// literal. Paths are matched with `/` separators. Compiled once, at boot, to a RegExp.

/** Compiles a glob to a RegExp anchored at both ends; throws RangeError with the problem. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let i = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i += 2;
        if (glob[i] === '/') {
          i++;
          re += '(?:.*/)?'; // `**/`: zero or more whole directories
        } else {
          re += '.*';
        }
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new RangeError(`"[" at ${i} has no closing "]"`);
      let body = glob.slice(i + 1, close);
      const negated = body.startsWith('!');
      if (negated) body = body.slice(1);
      re += `[${negated ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else if (c === '\\') {
      if (i + 1 >= glob.length) throw new RangeError('ends with a lone "\\"');
      i++;
      re += escapeChar(glob[i]!);
    } else {
      re += escapeChar(c);
    }
    i++;
  }
  return new RegExp(`^${re}$`);
}

function escapeChar(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** The problem with a glob, for the settings table, or null. */
export function globProblem(value: unknown): string | null {
  const s = String(value);
  if (s.includes('\0')) return 'must not contain NUL';
  try {
    globToRegExp(s);
    return null;
  } catch (err) {
    return `is not a valid glob: ${(err as Error).message}`;
  }
}
