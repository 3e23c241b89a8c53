/** Command-line entry: `edgeban [serve|check-config|…]`. Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'serve';
  console.error(`edgeban: command '${cmd}' not yet available`);
  return 2;
}
