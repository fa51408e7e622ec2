// Lint rules the compiler cannot check, run by the test command (scripts/test.sh). A promise
// nobody awaits in a FUSE server is a request never answered: a reader hung in the kernel.
import tseslint from 'typescript-eslint'

// tap runs the subtests t.test() queues; nothing needs to await them.
const tapTest = ['@tapjs/test', '@tapjs/core', 'tap'].map((p) => ({ from: 'package', name: ['test'], package: p }))

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'prebuilds/'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: tapTest }],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
)
