import { setTimeout as sleep } from 'node:timers/promises';

export default async function (context) {
  await sleep(1);
  return { status: 203, body: `esm ${context.request.method}\n` };
}

export async function other() {
  return { body: 'other\n' };
}
