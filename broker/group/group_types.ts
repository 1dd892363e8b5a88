/**
 * The inputs and outputs of the group coordinator's state machine. They mirror the Kafka
 * requests closely but are independent of any wire version: the route handlers translate.
 *
 * @module
 */

/** Kafka's classic group states, spelled as Kafka reports them in DescribeGroups. */
export type GroupState =
  | "Empty"
  | "PreparingRebalance"
  | "CompletingRebalance"
  | "Stable"
  | "Dead";

/** One protocol a member supports (for consumers: an assignor name and its subscription). */
export interface GroupProtocol {
  readonly name: string;
  readonly metadata: Uint8Array;
}

/** A JoinGroup request. */
export interface JoinRequest {
  readonly groupId: string;
  /** Empty for a member joining for the first time. */
  readonly memberId: string;
  /** `group.instance.id` of a static member, or null. */
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  readonly protocols: readonly GroupProtocol[];
  /** JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED and its new id. */
  readonly requireKnownMemberId: boolean;
}

/** One member as the leader sees it in its JoinGroup response. */
export interface JoinMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly metadata: Uint8Array;
}

/** The answer to a JoinGroup request. */
export interface JoinResult {
  readonly errorCode: number;
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly leaderId: string;
  readonly memberId: string;
  /** Every member's metadata for the leader; empty for the others. */
  readonly members: readonly JoinMember[];
}

/** A SyncGroup request. */
export interface SyncRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  /** SyncGroup v5+: checked against the group's when not null. */
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  /** The leader's assignment; empty from followers. */
  readonly assignments: ReadonlyMap<string, Uint8Array>;
}

/** The answer to a SyncGroup request. */
export interface SyncResult {
  readonly errorCode: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly assignment: Uint8Array;
}

/** A Heartbeat request. */
export interface HeartbeatRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

/** One member leaving (LeaveGroup v3+ sends a batch). */
export interface LeavingMember {
  /** Empty when a static member leaves by instance id only. */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

/** The answer to a LeaveGroup request. */
export interface LeaveResult {
  /** Group-level error (unknown group, wrong coordinator). */
  readonly errorCode: number;
  readonly members: readonly (LeavingMember & { readonly errorCode: number })[];
}

/** Who is committing offsets (OffsetCommit's group fields). */
export interface CommitIdentity {
  readonly groupId: string;
  /** -1 for a commit from outside group management (admin tools, manual assignment). */
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

/** A group in ListGroups. */
export interface ListedGroup {
  readonly groupId: string;
  readonly protocolType: string;
  readonly state: GroupState;
}

/** A member in DescribeGroups. */
export interface DescribedMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  /** The member's metadata for the selected protocol; empty unless the group is Stable. */
  readonly metadata: Uint8Array;
  /** The member's assignment; empty unless the group is Stable. */
  readonly assignment: Uint8Array;
}

/** A group in DescribeGroups. */
export interface DescribedGroup {
  readonly groupId: string;
  readonly state: GroupState;
  readonly protocolType: string;
  /** The selected protocol when Stable, else empty. */
  readonly protocolName: string;
  readonly generationId: number;
  readonly leaderId: string;
  readonly members: readonly DescribedMember[];
}
