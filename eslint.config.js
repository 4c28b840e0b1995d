import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**', '**/*.tmp.ts'] },
  ...neostandard({ ts: true, noStyle: true }),
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
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
      // `void promise` is how a deliberately unawaited promise is marked.
      'no-void': ['error', { allowAsStatement: true }],
      // In-memory implementations of async interfaces have nothing to await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // Plain JavaScript outside the TypeScript project: the image's health check, the configs.
  {
    files: ['eslint.config.js', '.dependency-cruiser.cjs', 'deploy/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
)
