import { readFileSync } from 'node:fs';
import ts from 'typescript';

/**
 * How many tests a vitest file declares, read from its source without running it. The
 * summary line uses it for a file that failed to load: vitest then knows none of its tests,
 * and a run that silently drops them would look better than it is.
 *
 * Counts `it`/`test` calls (with any modifier: skip, only, todo, concurrent, fails, skipIf(..),
 * runIf(..)), multiplied by the length of literal arrays given to `.each([...])` on the test or
 * on enclosing `describe` blocks, or of a `const` array literal the `.each` names. A `.each`
 * over anything else counts once. The reporter checks this count against vitest's own for every file that did load, so a
 * pattern this misses shows up at once.
 */
export function declaredTestCount(source: string, fileName = 'test.ts'): number {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  return countIn(file, 1, literalArrays(file));
}

/** `const name = [...]` anywhere in the file: the table an `.each(name)` runs over. */
function literalArrays(file: ts.SourceFile): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      const init = unwrap(node.initializer);
      if (ts.isArrayLiteralExpression(init) && !init.elements.some(ts.isSpreadElement)) out.set(node.name.text, init.elements.length);
    }
    node.forEachChild(visit);
  };
  visit(file);
  return out;
}

export function declaredTestCountOfFile(path: string): number {
  return declaredTestCount(readFileSync(path, 'utf8'), path);
}

type Callee = { readonly root: 'it' | 'test' | 'describe'; readonly times: number };

/** `it`, `it.skip`, `it.each([..])`, `describe.skipIf(x)`, ... -> which root and how many cases. */
function calleeOf(expr: ts.Expression, arrays: ReadonlyMap<string, number>): Callee | undefined {
  if (ts.isIdentifier(expr)) {
    return expr.text === 'it' || expr.text === 'test' || expr.text === 'describe' ? { root: expr.text, times: 1 } : undefined;
  }
  if (ts.isPropertyAccessExpression(expr)) return calleeOf(expr.expression, arrays);
  if (ts.isCallExpression(expr)) {
    // A modifier call: `.each(cases)`, `.skipIf(cond)`, `.runIf(cond)`.
    const inner = calleeOf(expr.expression, arrays);
    if (!inner) return undefined;
    const method = ts.isPropertyAccessExpression(expr.expression) ? expr.expression.name.text : '';
    const arg = expr.arguments[0] && unwrap(expr.arguments[0]);
    if (method !== 'each' || !arg) return inner;
    if (ts.isArrayLiteralExpression(arg)) return { root: inner.root, times: inner.times * arg.elements.length };
    const named = ts.isIdentifier(arg) ? arrays.get(arg.text) : undefined;
    return named === undefined ? inner : { root: inner.root, times: inner.times * named };
  }
  return undefined;
}

/** `[..] as const`, `([..])`, `[..] satisfies T` are still the literal array. */
function unwrap(e: ts.Expression): ts.Expression {
  while (ts.isAsExpression(e) || ts.isParenthesizedExpression(e) || ts.isSatisfiesExpression(e)) e = e.expression;
  return e;
}

function countIn(node: ts.Node, factor: number, arrays: ReadonlyMap<string, number>): number {
  if (ts.isCallExpression(node)) {
    const callee = calleeOf(node.expression, arrays);
    // A call whose callee is itself a modifier call (`it.each(x)`) is not a declaration by itself.
    const declares = callee && node.arguments.length >= 1 && !isModifierOnly(node);
    if (declares && callee.root !== 'describe') return factor * callee.times;
    if (declares && callee.root === 'describe') {
      let n = 0;
      for (const arg of node.arguments) n += countIn(arg, factor * callee.times, arrays);
      return n;
    }
  }
  let n = 0;
  node.forEachChild((child) => {
    n += countIn(child, factor, arrays);
  });
  return n;
}

/** `it.each([..])` or `describe.skipIf(c)` before it is called with (name, fn). */
function isModifierOnly(call: ts.CallExpression): boolean {
  if (!ts.isPropertyAccessExpression(call.expression)) return false;
  const method = call.expression.name.text;
  return method === 'each' || method === 'skipIf' || method === 'runIf' || method === 'for';
}
