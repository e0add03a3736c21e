import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { isServerOnlyModule } from '../vite.config.js';

const srcDir = path.dirname(fileURLToPath(import.meta.url));

/** The app's own modules: what the bundle is made of (tests run in Node and may import anything). */
function appModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return appModules(full);
    return /\.tsx?$/.test(entry.name) && !/\.spec\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/** Every import or re-export of the contracts' main entry that brings a value (not only types) at run time. */
function valueImportsOfContracts(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const isMainEntry = (spec: ts.Expression | undefined) =>
    spec !== undefined && ts.isStringLiteral(spec) && spec.text === '@siteflow/contracts';
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && isMainEntry(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.phaseModifier === ts.SyntaxKind.TypeKeyword ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) found.push(node.getText(source));
    } else if (ts.isExportDeclaration(node) && isMainEntry(node.moduleSpecifier) && !node.isTypeOnly) {
      found.push(node.getText(source));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && isMainEntry(node.arguments[0])) {
      found.push(node.getText(source));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

// Parsing every module of the app takes a few seconds on a busy machine.
describe('the contracts in the web bundle', { timeout: 30_000 }, () => {
  it('come in as types from the main entry and as values only from the zod-free entry', () => {
    const modules = appModules(srcDir);
    expect(modules.length).toBeGreaterThan(20);
    const offending = modules.flatMap((file) =>
      valueImportsOfContracts(file, readFileSync(file, 'utf8')).map((stmt) => `${path.relative(srcDir, file)}: ${stmt}`),
    );
    expect(offending).toEqual([]);
  });

  it('catches a value import, a value re-export and a dynamic import of the main entry', () => {
    const probe = [
      "import { CHAT_MAX_TEXT } from '@siteflow/contracts';",
      "import type { Role } from '@siteflow/contracts';",
      "import { type ErrorCode } from '@siteflow/contracts';",
      "import { ERROR_CODES } from '@siteflow/contracts/constants';",
      "export { ProjectStatus } from '@siteflow/contracts';",
      "export type { ChatMessage } from '@siteflow/contracts';",
      "export const load = () => import('@siteflow/contracts');",
    ].join('\n');
    expect(valueImportsOfContracts('probe.ts', probe)).toEqual([
      "import { CHAT_MAX_TEXT } from '@siteflow/contracts';",
      "export { ProjectStatus } from '@siteflow/contracts';",
      "import('@siteflow/contracts')",
    ]);
  });

  it('the build refuses zod and the schema modules, not the constants entry', () => {
    expect(isServerOnlyModule('/repo/node_modules/zod/v4/core/core.js')).toBe(true);
    expect(isServerOnlyModule('/repo/packages/contracts/dist/index.js')).toBe(true);
    expect(isServerOnlyModule('/repo/packages/contracts/dist/chat.js')).toBe(true);
    expect(isServerOnlyModule('/repo/node_modules/@siteflow/contracts/dist/errors.js')).toBe(true);
    expect(isServerOnlyModule('/repo/packages/contracts/dist/constants.js')).toBe(false);
    expect(isServerOnlyModule('/repo/web/src/chat/messages.ts')).toBe(false);
    expect(isServerOnlyModule('/repo/node_modules/react/index.js')).toBe(false);
  });
});
