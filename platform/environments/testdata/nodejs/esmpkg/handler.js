import { greet } from './greet.js';

export default async (context) => ({ body: { message: greet(context.request.query.name || 'esm') } });
