"""Every request and response body of the HTTP API: the one module where pydantic models live.

Unknown fields are rejected (``extra="forbid"``), every string and list is bounded, numbers are
finite and ranged, and external ids are short strings of letters, digits and ``._:@+~-`` starting
with a letter or digit (they appear in URL paths). The OpenAPI document generated from these
models is the contract that the property-based tests check the service against.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: longest external id
ID_MAX = 128
#: hard cap on a batch (the configurable ``max_batch`` is at most this; the OpenAPI document states it)
BATCH_MAX = 10_000
#: longest slate / neighbour list a request may ask for
K_MAX = 100
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$"

Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
Timestamp = Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False, description="unix seconds")]
Scalar = (
    Annotated[str, StringConstraints(max_length=1000)]
    | bool
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | None
)
Fields = Annotated[dict[Name, Scalar], Field(max_length=64)]


class Strict(BaseModel):
    # strict: "12" is not a number and 1 is not a string; JSON ints are still valid floats
    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------------- errors
class ErrorDetail(Strict):
    code: str = Field(description="machine-readable error code, e.g. 'validation_error', 'not_found'")
    message: str = Field(description="one line naming the field, the allowed values and the value received")
    field: str | None = Field(None, description="the offending field or parameter, when there is one")


class ErrorResponse(Strict):
    error: ErrorDetail


# ---------------------------------------------------------------------- items
class ItemIn(Strict):
    item_id: Id
    text: Annotated[str, StringConstraints(max_length=10_000)] = Field(
        "", description="the text the language model embeds (title, description, ...)"
    )
    fields: Fields = Field(default_factory=dict)
    categories: Annotated[list[Name], Field(max_length=32)] = Field(default_factory=list)
    available: bool = True
    timestamp: Timestamp | None = Field(None, description="when the item arrived (default: now)")


class ItemBatch(Strict):
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=BATCH_MAX)]


class ItemsUpserted(Strict):
    upserted: int = Field(ge=0, description="items written")
    created: int = Field(ge=0, description="items that were new")


class ItemOut(Strict):
    item_id: Id
    text: str
    fields: dict[str, Any]
    categories: list[str]
    available: bool
    timestamp: float
    created_at: float


class ItemHit(Strict):
    item_id: str
    text: str
    fields: dict[str, Any]
    categories: list[str]
    timestamp: float = Field(description="when the item arrived (unix seconds)")
    score: float = Field(description="cosine similarity of the query's and the item's text vectors")


class ItemSearch(Strict):
    query: str
    category: str | None
    newest: bool
    items: list[ItemHit] = Field(description="best match first, or newest first with newest=true")


class Deleted(Strict):
    id: str
    deleted: bool


# ---------------------------------------------------------------------- users
class UserIn(Strict):
    user_id: Id
    fields: Fields = Field(default_factory=dict)


class UserBatch(Strict):
    users: Annotated[list[UserIn], Field(min_length=1, max_length=BATCH_MAX)]


class UsersUpserted(Strict):
    upserted: int = Field(ge=0)


# ---------------------------------------------------------------------- feedback
class EventIn(Strict):
    event_id: Id = Field(description="idempotency key: a replayed event_id is stored once")
    user_id: Id
    item_id: Id
    type: EventType = Field("click", description="click, view, purchase, rating, ...")
    value: Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)] = 1.0
    timestamp: Timestamp | None = Field(None, description="when it happened (default: now)")
    recommendation_id: Id | None = Field(None, description="the slate this event answers, if any")


class FeedbackBatch(Strict):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=BATCH_MAX)]


class FeedbackResult(Strict):
    accepted: int = Field(ge=0, description="events stored by this request")
    duplicates: list[str] = Field(description="event_ids that were already stored (nothing added)")
    unattributed: list[str] = Field(
        default_factory=list,
        description="stored event_ids whose recommendation_id is unknown or did not show the item",
    )
    not_learned: list[str] = Field(
        default_factory=list,
        description="stored event_ids quoting a recommendation_id that updated no policy state "
        "(unknown or expired slate, a slate that did not show the item, or a slot already rewarded)",
    )


# ---------------------------------------------------------------------- recommendations
Stage = Literal["model", "item-to-item", "popular", "newest", "exploration"]


class RecommendedItem(Strict):
    item_id: str
    score: float | None = Field(description="the item's own model score (null for fallback stages)")
    position: int = Field(ge=0)
    propensity: float = Field(gt=0, le=1, description="P(this item at this position | context)")
    explored: bool
    stage: Stage = Field(description="which stage of the fallback chain produced the item")


class EvidenceOut(Strict):
    item_id: str = Field(description="an item of the user's history that supports the recommendation")
    weight: float = Field(
        description="its support, of the kind evidence_kind names: cosine similarity of the two items' "
        "text vectors, an item-item weight, or the share of a sequential model's attention it received"
    )
    shared_words: list[str] = Field(description="content words the two item texts have in common")
    shared_categories: list[str] = Field(description="categories the two items have in common")


class ItemExplanationOut(Strict):
    item_id: str
    position: int = Field(ge=0)
    score: float | None = Field(description="the item's own model score (null for fallback stages)")
    stage: Stage = Field(description="which stage of the fallback chain produced the item")
    explored: bool
    propensity: float = Field(gt=0, le=1, description="P(this item at this position | context)")
    evidence_kind: Literal["item-item weight", "attention", "embedding similarity", "none"] = Field(
        description="what the evidence weights are: the model's item-item weights, its attention over "
        "the history (sequential models), embedding similarity, or none"
    )
    evidence: list[EvidenceOut] = Field(description="strongest supporting history items first")
    exploration_reason: str | None = Field(
        description="for an explored slot: the policy's reason (epsilon draw, new item, ...)"
    )
    sentence: str = Field(description="one line assembled from the fields above only")


class Explanation(Strict):
    recommendation_id: str
    user_id: str
    model_version: str
    policy: str
    items: list[ItemExplanationOut]


class Recommendations(Strict):
    recommendation_id: str = Field(description="quote it in feedback to attribute the event to its slot")
    model_version: str
    user_id: str
    policy: str
    items: list[RecommendedItem]
    note: str = ""
    explanations: list[ItemExplanationOut] | None = Field(
        None, description="with explain=true: why each item is shown, in the order of items"
    )


class Neighbour(Strict):
    item_id: str
    score: float


class Similar(Strict):
    item_id: str
    language_model: list[Neighbour] = Field(description="nearest items by text embedding (cosine)")
    collaborative: list[Neighbour] = Field(description="items most often interacted with by the same users")


class Impression(Strict):
    """The impression record (:mod:`explorec.impressions`) as logged."""

    schema_version: int
    recommendation_id: str
    user: int
    user_id: str
    items: list[int]
    item_ids: list[str]
    positions: list[int]
    scores: list[float | None]
    propensities: list[float]
    explored: list[bool]
    stages: list[Stage]
    policy: str
    policy_params: dict[str, Any]
    propensity_method: str
    model_version: str
    timestamp: float
    experiment: str
    variant: str
    k: int
    note: str


# ---------------------------------------------------------------------- health
class Health(Strict):
    status: Literal["ok"]


class Ready(Strict):
    ready: bool
    store: bool
    model: bool
    n_items: int
    model_version: str


# ---------------------------------------------------------------------- experiments
Spec = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class VariantIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
    share: Share = Field(description="share of the users assigned to this variant; shares sum to 1")
    policy: Spec = Field(
        "greedy",
        description="greedy, eps-greedy[:EPS], softmax[:T], ts[:PRIOR_WEIGHT], ucb[:C], linucb[:ALPHA], "
        "lints[:V], linucb-hybrid[:ALPHA]",
    )
    rerank: Spec | None = Field(None, description="re-ranker spec (mmr:0.3, dpp:0.5, ...) or null")
    model_version: Name = Field(
        "serving",
        description="the model that scores the candidates: serving (what the replica serves), textknn "
        "(the text model) or a version of GET /v1/models",
    )
    exploration: Share | None = Field(
        None, description="share of slates built by the policy, the rest greedy (null: every slate)"
    )


class ExperimentIn(Strict):
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=16)]
    control: Name | None = Field(
        None, description="the variant the others are compared to (default: the first)"
    )
    salt: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        None, description="hash salt of the assignment (default: the experiment's name)"
    )
    active: bool = True


class ExperimentOut(Strict):
    name: str
    variants: list[VariantIn]
    control: str
    salt: str
    active: bool
    created_at: float
    updated_at: float


class EstimateOut(Strict):
    value: float
    ci: list[float]


class OffPolicyOut(Strict):
    from_variants: list[str] = Field(description="the variants whose slates the estimate reads")
    slates: int
    impressions: int
    overlap: float = Field(
        description="mean probability that the variant shows the logged item at the logged position"
    )
    ips: EstimateOut
    snips: EstimateOut
    dr: EstimateOut


class VariantReport(Strict):
    name: str
    share: float
    policy: str
    rerank: str | None
    model_version: str
    exploration: float | None
    slates: int
    impressions: int = Field(description="shown slots")
    clicks: float = Field(description="slots with attributed feedback")
    click_rate: float | None = Field(description="clicks per impression")
    click_rate_ci: list[float] | None = Field(description="Wilson interval of click_rate")
    clicks_per_1000: float | None
    diff_to_control: float | None
    p_value: float | None = Field(description="two-sided two-proportion z-test against the control")
    off_policy: OffPolicyOut | None = Field(
        description="IPS/SNIPS/DR estimates of click_rate from the other variants' slates"
    )
    state: dict[str, Any] = Field(description="the variant's online policy state (this replica)")


class ExperimentReport(Strict):
    name: str
    control: str
    salt: str
    active: bool
    confidence: float
    variants: list[VariantReport]
