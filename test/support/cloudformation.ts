import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';

/**
 * CloudFormation on loopback, for the client's stack lookup (`--stack`): answers the query protocol's `DescribeStacks` as `answer` says. The shapes follow
 * the API reference (a `DescribeStacksResult` whose `Stacks` and `Outputs` lists hold `member` elements; errors
 * as an `ErrorResponse` with `Type`, `Code` and `Message`).
 */
export interface FakeCloudFormation {
  readonly requests: URLSearchParams[];
  client(options?: ConstructorParameters<typeof CloudFormationClient>[0]): CloudFormationClient;
  close(): Promise<void>;
}

export type Answer = (stackName: string) => { readonly status: number; readonly body: string };

export async function startCloudFormation(answer: Answer): Promise<FakeCloudFormation> {
  const requests: URLSearchParams[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const parameters = new URLSearchParams(body);
      requests.push(parameters);
      const { status, body: xml } =
        parameters.get('Action') === 'DescribeStacks'
          ? answer(parameters.get('StackName') ?? '')
          : errorXml(400, 'InvalidAction', `unexpected action ${parameters.get('Action')}`);
      response.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': 'c0ffee00-0000-4000-8000-000000000000' });
      response.end(xml);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: CloudFormationClient[] = [];
  return {
    requests,
    client: (options = {}) => {
      const client = new CloudFormationClient({
        endpoint,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
        maxAttempts: 1,
        ...options,
      });
      clients.push(client);
      return client;
    },
    close: async () => {
      for (const client of clients) client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

export function describeStacksXml(stackName: string, outputs: Record<string, string>): { status: number; body: string } {
  const members = Object.entries(outputs)
    .map(([key, value]) => `<member><OutputKey>${escapeXml(key)}</OutputKey><OutputValue>${escapeXml(value)}</OutputValue></member>`)
    .join('');
  return {
    status: 200,
    body:
      '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>' +
      `<StackName>${escapeXml(stackName)}</StackName>` +
      `<StackId>arn:aws:cloudformation:eu-west-1:111122223333:stack/${escapeXml(stackName)}/5b0f7d40-0000-11ef-8000-0a1b2c3d4e5f</StackId>` +
      '<CreationTime>2026-01-05T10:00:00.000Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><DisableRollback>false</DisableRollback>' +
      `<Outputs>${members}</Outputs><Parameters/><Tags/>` +
      '</member></Stacks></DescribeStacksResult>' +
      '<ResponseMetadata><RequestId>c0ffee00-0000-4000-8000-000000000000</RequestId></ResponseMetadata></DescribeStacksResponse>',
  };
}

export function errorXml(status: number, code: string, message: string): { status: number; body: string } {
  return {
    status,
    body:
      '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">' +
      `<Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>` +
      '<RequestId>c0ffee00-0000-4000-8000-000000000000</RequestId></ErrorResponse>',
  };
}
