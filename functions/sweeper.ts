/**
 * The sweeper Lambda's entry point: the same for every Settle stack (it runs no machine code), and the
 * construct's default `sweeperEntry`.
 */
import { sweeperHandler } from '../runtime/aws/sweeper.ts';

export const handler = sweeperHandler();
