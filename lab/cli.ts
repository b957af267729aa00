/** `caracal lab` — placeholder until the lab work lands (see issue 2 §4). */
export async function main(_args: string[]): Promise<number> {
  console.error('caracal lab: not implemented yet');
  return 1;
}
