import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

/** Layers point one way: server → mirror → {upstream → auth, cache} → {oci, http, errors}. */
const layer = (folder, forbidden) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((f) => ({
          group: [`../${f}/*`, `**/src/${f}/*`, ...(f === 'fastify' ? ['fastify', '@fastify/*'] : [])],
          message: `src/${folder} must not depend on ${f}`,
        })),
      },
    ],
  },
})

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**', '**/*.tmp.ts'] },
  ...neostandard({ ts: true, noStyle: true }),
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // tap queues subtests itself; awaiting each t.test() would only serialise them.
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test'], package: '@tapjs/test' }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      // `void promise` is how a deliberately unawaited promise is marked.
      'no-void': ['error', { allowAsStatement: true }],
      // In-memory implementations of async interfaces have nothing to await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  layer('oci', ['server', 'mirror', 'upstream', 'auth', 'cache', 'http', 'config', 'fastify']),
  layer('http', ['server', 'mirror', 'upstream', 'auth', 'cache', 'fastify']),
  layer('cache', ['server', 'mirror', 'upstream', 'auth', 'fastify']),
  layer('auth', ['server', 'mirror', 'upstream', 'cache', 'fastify']),
  layer('upstream', ['server', 'mirror', 'cache', 'fastify']),
  layer('mirror', ['server', 'fastify']),
  layer('config', ['server', 'mirror', 'upstream', 'auth', 'cache', 'fastify']),
)
