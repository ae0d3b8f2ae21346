# Sourced by the profile scripts (with N and HERE set): B1's input (N lines), manifest and peer scripts,
# written by the bench's own bench/lib/b1.js into ./b1/, which becomes the current directory.
node --input-type=module -e "const { b1Setup } = await import('$HERE/../lib/b1.js'); b1Setup({ n: $N, jobs: 2 }, process.cwd());"
cd b1
