// Prints the caller's identity and the outcome of iam:ListRoles as JSON, with
// credentials found by the SDK's default chain (AWS_ROLE_ARN +
// AWS_WEB_IDENTITY_TOKEN_FILE) and the endpoint from AWS_ENDPOINT_URL.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { IAMClient, ListRolesCommand } from "@aws-sdk/client-iam";

const identity = await new STSClient({}).send(new GetCallerIdentityCommand({}));
let listRoles;
try {
  const roles = await new IAMClient({}).send(new ListRolesCommand({}));
  listRoles = { ok: true, roles: roles.Roles.map((r) => r.RoleName) };
} catch (e) {
  listRoles = { ok: false, code: e.name, message: e.message };
}
console.log(JSON.stringify({ arn: identity.Arn, account: identity.Account, listRoles }));
