// ESLint: the TypeScript sources with typescript-eslint's recommended rules; tests, benches and the
// browser code with ESLint's own. Formatting is Prettier's job (npm run format:check), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const node = {
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  URL: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  setImmediate: 'readonly',
  AbortController: 'readonly',
  AbortSignal: 'readonly',
  TextDecoder: 'readonly',
  TextEncoder: 'readonly',
  structuredClone: 'readonly',
  queueMicrotask: 'readonly',
  fetch: 'readonly',
  performance: 'readonly',
  clearImmediate: 'readonly',
};
const browser = {
  window: 'readonly',
  document: 'readonly',
  fetch: 'readonly',
  location: 'readonly',
  history: 'readonly',
  console: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  URL: 'readonly',
  URLSearchParams: 'readonly',
  HTMLElement: 'readonly',
  requestAnimationFrame: 'readonly',
  getComputedStyle: 'readonly',
  navigator: 'readonly',
  Event: 'readonly',
  Node: 'readonly',
  // The layout library, loaded by its own script tag before ours.
  dagre: 'readonly',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/work/**', 'web/vendor/**', '**/*.min.js'] },
  js.configs.recommended,
  {
    files: ['src/**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.js', 'bench/**/*.js', 'docs/**/*.js', 'eslint.config.js'],
    languageOptions: { globals: node },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Tests read terminal screens (escape sequences) and aligned columns.
      'no-control-regex': 'off',
      'no-regex-spaces': 'off',
    },
  },
  { files: ['web/**/*.js'], languageOptions: { globals: browser } },
);
