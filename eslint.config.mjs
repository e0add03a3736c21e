// ESLint: typescript-eslint's strict, type-aware rules over every TypeScript file (services,
// packages, web, bench, tests, examples). `npm run lint`; `npm test` runs it before any test.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

const tests = [
  'packages/**/*.spec.ts',
  'services/**/*.spec.ts',
  'bench/**/*.spec.ts',
  'services/**/*.bench.ts',
  'services/*/src/test-fixtures/**/*.ts',
  'vitest.config.ts',
  'tests/**/*.ts',
  'examples/**/*.ts',
  'packages/*/src/test-fixtures/**/*.ts',
];

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'web/dist/**',
      '.data/**',
      'coverage/**',
      'test-results/**',
      'bench/results/**',
      '**/*.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and booleans read fine in a message; objects and nullish values are still refused.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => void run()` and `x => set(x)` callbacks are the idiom for fire-and-forget handlers.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true }],
      // TypeScript checks names; the core rule does not know type-only globals.
      'no-undef': 'off',
    },
  },
  {
    files: tests,
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.tests.json', tsconfigRootDir: import.meta.dirname } },
  },
  {
    files: [...tests, 'web/src/**/*.spec.ts'],
    rules: {
      // A test asserts what it reads; a wrong `!` fails the test, which is the point.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['web/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  { files: ['**/*.mjs', '**/*.cjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
);
