// One writer for each field of a request's Exchange (docs/architecture.md, "Who owns which state").
// The sources under lib/ are compiled with TypeScript's checker, and every write (an assignment,
// a compound assignment, ++ or --) whose target is a property of a value typed Exchange is listed
// by field and file. Each field may be written from one file only: the connection's fields by
// lib/acceptor/connection.ts, the dispatcher's (the worker it went to, its frame, its sticky key)
// by lib/acceptor/dispatcher.ts, the access log's by lib/acceptor/observe.ts. A module that needs
// another's field changed asks its owner (Connection.lastBeforeShutdown, for one).
import t from 'tap';
import path from 'node:path';
import ts from 'typescript';
import { root } from '../helpers.mjs';

const configPath = path.join(root, 'tsconfig.json');
const config = ts.readConfigFile(configPath, ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
const program = ts.createProgram({ rootNames: parsed.fileNames.filter((f) => f.includes(`${path.sep}lib${path.sep}`)), options: { ...parsed.options, noEmit: true } });
const checker = program.getTypeChecker();

const ASSIGN = new Set([
  ts.SyntaxKind.EqualsToken, ts.SyntaxKind.PlusEqualsToken, ts.SyntaxKind.MinusEqualsToken, ts.SyntaxKind.AsteriskEqualsToken,
  ts.SyntaxKind.BarEqualsToken, ts.SyntaxKind.AmpersandEqualsToken, ts.SyntaxKind.QuestionQuestionEqualsToken,
  ts.SyntaxKind.BarBarEqualsToken, ts.SyntaxKind.AmpersandAmpersandEqualsToken,
]);

/** Is `node` (the object of a property access) typed as the acceptor's Exchange? */
function isExchange(node) {
  const type = checker.getTypeAtLocation(node);
  const types = type.isUnion() ? type.types : [type];
  return types.some((ty) => {
    const decl = ty.getSymbol()?.declarations?.[0];
    return decl !== undefined && ts.isClassDeclaration(decl) && decl.name?.text === 'Exchange'
      && decl.getSourceFile().fileName.endsWith(path.join('lib', 'acceptor', 'connection.ts'));
  });
}

/** field -> Set of repository files that write it. */
function writers() {
  const out = new Map();
  const note = (target, file) => {
    if (!ts.isPropertyAccessExpression(target) || !isExchange(target.expression)) return;
    const field = target.name.text;
    if (!out.has(field)) out.set(field, new Set());
    out.get(field).add(path.relative(root, file).split(path.sep).join('/'));
  };
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || !sf.fileName.includes(`${path.sep}lib${path.sep}`)) continue;
    const visit = (node) => {
      if (ts.isBinaryExpression(node) && ASSIGN.has(node.operatorToken.kind)) note(node.left, sf.fileName);
      else if ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node))
        && (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)) note(node.operand, sf.fileName);
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

const found = writers();

t.test('the writes are found', async (t) => {
  // Fields each of the three owners is known to write: if none is found, the search is broken.
  t.same([...(found.get('done') ?? [])], ['lib/acceptor/connection.ts'], 'the connection writes done');
  t.same([...(found.get('seq') ?? [])], ['lib/acceptor/dispatcher.ts'], 'the dispatcher writes seq');
  t.same([...(found.get('rec') ?? [])], ['lib/acceptor/observe.ts'], 'the observer writes rec');
});

t.test('each field of an exchange has one writing file', async (t) => {
  for (const [field, files] of [...found].sort()) {
    t.equal(files.size, 1, `Exchange.${field} is written by ${[...files].join(', ')}`);
  }
});
