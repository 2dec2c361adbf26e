"""The embedded default dataset: a GENERATED shop with invented products and simulated users.

Nothing here comes from real people or real products. ``load_synthetic()`` builds, from a seed and in
well under two seconds, a catalogue whose text carries meaning and users whose interactions that
meaning predicts, so that every part of explorec (text encoders, cold start, exploration, splits)
can be demonstrated and tested without downloading anything.

Generative process
------------------
Catalogue (``n_items`` items over ``n_categories`` categories such as "Hiking Gear", "Board Games",
"Jazz Records"; each category has its own vocabulary of product nouns, adjectives, brands, uses and
feature sentences):

* item ``i`` gets a category ``c_i``, a noun, two distinct adjectives, a brand, a use phrase, 0-2
  feature sentences and, for some items, a shop-wide tier word ("Premium", "Starter", ...). Its
  title reads ``"{brand} [{tier}] {adjective} [{adjective 2}] {noun}"`` (e.g. "Trailmaster
  Waterproof Hiking Boots") and its description has 1-3 sentences built from the same words.
* every vocabulary word ``w`` has a hidden vector ``e_w ~ N(0, I_d)`` (d = 8); the item's hidden
  style is ``v_i = normalise(sum_{w shown in its text} e_w + 0.7 e_tier + 0.3 eps)``, built only from
  the words its title and description show, so items that share words share style: the text predicts
  preference beyond the category (the category itself is visible as its department path and nouns).
* popularity ``log p_i ~ N(0, 1.2^2)`` (long tail); price from the category's base price, the tier
  and a log-normal factor.
* items ``0 .. n_warm-1`` arrived before the simulated window; the last ``cold_item_fraction`` of the
  items ARRIVE LATE, at increasing times in ``[0.70, 0.90]`` of the window (``Catalog.arrival``), and
  can only be chosen after they arrive.

Users: an age group ``g_u``, category tastes ``theta_u ~ Dirichlet(alpha * (pi + tilt_g))`` (``pi``
shop-wide category popularity, ``tilt_g`` an age-group tilt), and a style vector ``s_u ~ N(0, I_d)``.
User ``u`` makes ``n_u = 5 + LogNormal`` draws (mean ``mean_history``) at sorted times inside an
activity window of the 180-day period. Each draw keeps the previous draw's category with probability
0.5 (sessions), otherwise samples a category from ``theta_u``; the item inside the category is drawn
from

    P(i | u, c, t) ∝ 1[arrival_i <= t] · exp(log p_i + 2.5 s_u·v_i + b_i(t)),
    b_i(t) = 1.5 exp(-(t - arrival_i) / 30 days) for late items, 0 otherwise

(``b_i`` is a novelty boost for freshly arrived items), by inverse CDF per (user, category) for the
always-available items and per event for the late ones. A repeated (user, item) draw is re-drawn from
the same distribution (rejection, six rounds), then by the Gumbel-max trick among the user's unseen
items (two rounds); the few left over are dropped (logged at DEBUG). Ratings are
``clip(round(3.7 + 0.6 s_u·v_i + N(0, 0.7^2)), 1, 5)``. Rows come in time order.

Same seed, same arguments: identical arrays and texts (every random draw comes from
``np.random.SeedSequence(seed)``; the catalogue and the users use separate child streams).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.errors import ConfigError, check_positive_int, check_range

logger = logging.getLogger(__name__)

#: start of the simulated window: 2023-01-01T00:00:00Z
EPOCH = 1_672_531_200.0
DAY = 86_400.0
#: length of the simulated window, in days
HORIZON_DAYS = 180.0
AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
_AGE_SHARE = np.array([0.18, 0.30, 0.24, 0.16, 0.12])
_DIM = 8
_STYLE_WEIGHT = 2.5
_STICKINESS = 0.5
_NOVELTY_BOOST = 1.5
_NOVELTY_DAYS = 30.0
_MIN_HISTORY = 5
#: shop-wide tier words: (word, price factor)
_TIERS = (("Premium", 1.8), ("Everyday", 1.0), ("Eco-Conscious", 1.2), ("Deluxe", 2.2), ("Starter", 0.6))
_TIER_SENTENCES = {
    "Premium": "Premium materials and a lifetime warranty.",
    "Everyday": "An everyday favourite at a fair price.",
    "Eco-Conscious": "Made with recycled materials and plastic-free packaging.",
    "Deluxe": "The deluxe edition comes with extra accessories in a gift box.",
    "Starter": "A budget-friendly starter pick for beginners.",
}


@dataclass(frozen=True)
class _Category:
    name: str
    department: str
    price: float
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    brands: tuple[str, ...]
    uses: tuple[str, ...]
    features: tuple[str, ...]


def _c(name: str, department: str, price: float, *parts: str) -> _Category:
    nouns, adjectives, brands, uses, features = (tuple(p.split("; ")) for p in parts)
    return _Category(name, department, price, nouns, adjectives, brands, uses, features)


CATEGORIES: tuple[_Category, ...] = (
    _c("Hiking Gear", "Sports & Outdoors", 90.0,
       "Hiking Boots; Trekking Poles; Daypack; Rain Jacket; Trail Gaiters; Headlamp; Hydration Pack; "
       "Hiking Socks; Fleece Pullover",
       "Waterproof; Lightweight; Alpine; Breathable; Insulated; Rugged; Ultralight; Packable; Windproof; "
       "Merino; Trail-Ready; All-Season",
       "Trailmaster; Summit Ridge; Northpeak; Cairnline; Timberwolf",
       "for long alpine day hikes; for muddy spring trails; for multi-day backcountry treks; "
       "for rocky summit scrambles; for wet and windy ridgelines; for weekend hikes in the hills",
       "A grippy lugged outsole holds on wet rock and loose scree; Seam-sealed construction keeps rain "
       "and snowmelt out; Reinforced stitching survives years of switchbacks; Adjustable straps spread "
       "the load across the hips; A moisture-wicking lining keeps feet dry on steep climbs; Reflective "
       "trim adds visibility at dusk on the trail; It packs down small enough to stash in a backpack "
       "lid; Tested on mountain routes in every season"),
    _c("Espresso & Coffee", "Home & Kitchen", 60.0,
       "Espresso Machine; Burr Grinder; Milk Frother; Pour-Over Kettle; Coffee Beans; Moka Pot; Tamper; "
       "French Press; Cold Brew Maker",
       "Single-Origin; Dark Roast; Stainless; Gooseneck; Programmable; Manual; Barista-Grade; Conical; "
       "Medium Roast; Compact; Dual-Boiler; Ethiopian",
       "Crema Co.; Bellaroma; Portafilter Works; Morning Ritual; Java Junction",
       "for rich cafe-style espresso at home; for bright pour-over coffee; for silky microfoam and latte "
       "art; for a slow weekend brew; for a strong morning cup; for the home barista",
       "Precise temperature control pulls a balanced shot; Freshly roasted beans carry notes of "
       "chocolate and cherry; Stepless adjustment dials in the perfect grind size; A steam wand textures "
       "milk for cappuccinos; A brushed steel body looks great on any counter; Small-batch roasting "
       "brings out caramel sweetness; It is easy to descale and clean after every brew; Fifteen bars of "
       "pressure extract a thick crema"),
    _c("Board Games", "Toys & Games", 35.0,
       "Strategy Game; Card Game; Party Game; Cooperative Game; Dice Game; Deck-Building Game; Puzzle "
       "Game; Expansion Pack; Word Game",
       "Family; Two-Player; Cooperative; Competitive; Fantasy; Medieval; Space-Themed; Quick-Play; "
       "Legacy; Tactical; Hilarious; Award-Winning",
       "Meeple House; Dicetower Games; Gamenight Guild; Rolling Hex; Castle Keep Studios",
       "for family game night; for two players on a quiet evening; for big groups at parties; for "
       "strategy fans who love a long campaign; for quick rounds over lunch; for cooperative adventures "
       "with friends",
       "Players build engines of cards, tiles and resources; Beautifully illustrated cards and sturdy "
       "wooden meeples are included; Each round takes about thirty minutes to play; Variable setup makes "
       "every game different; Teams race to solve clues before time runs out; It includes a solo mode "
       "and rules for up to six players; Easy to learn with deep strategic choices; Dice rolls and "
       "bluffing keep everyone guessing"),
    _c("Running Shoes", "Sports & Outdoors", 110.0,
       "Road Running Shoes; Trail Running Shoes; Racing Flats; Stability Trainers; Cushioned Trainers; "
       "Track Spikes; Recovery Sandals; Running Socks; Carbon-Plate Racers",
       "Responsive; Cushioned; Lightweight; Breathable; Neutral; Supportive; Carbon-Plated; Grippy; "
       "Wide-Fit; Reflective; Marathon; Zero-Drop",
       "Stridefast; Pacesetter; Kinetic Run; Asphalt Athletics; Tempo Labs",
       "for marathon training; for daily easy miles; for fast tempo runs and race day; for "
       "overpronating runners; for technical trail runs; for recovery days after a long run",
       "A springy foam midsole returns energy with every stride; A breathable engineered mesh upper "
       "keeps feet cool; Rocker geometry rolls you smoothly through toe-off; A durable rubber outsole "
       "handles hundreds of miles; A firm heel counter adds stability on long runs; A lugged outsole "
       "bites into mud and gravel; They weigh under eight ounces in a size nine; A roomy toe box lets "
       "feet splay naturally"),
    _c("Science Fiction Books", "Books", 18.0,
       "Space Opera Novel; Cyberpunk Thriller; Short Story Collection; Hard Science Fiction Novel; Time "
       "Travel Novel; Dystopian Novel; First Contact Novel; Graphic Novel; Trilogy Box Set",
       "Epic; Bestselling; Hugo-Nominated; Dystopian; Interstellar; Cyberpunk; Mind-Bending; Galactic; "
       "Post-Apocalyptic; Classic; Illustrated; Hardcover",
       "Nebula Press; Starfall Books; Orbit Lane; Quantum Ink; Farside Publishing",
       "for fans of space opera; for readers who love big ideas; for a long weekend of reading; for "
       "lovers of classic science fiction; for anyone who wonders about first contact; for readers of "
       "cyberpunk noir",
       "A starship crew faces an ancient alien signal; A hacker uncovers a conspiracy in a neon "
       "megacity; Humanity's last colony fights for survival on a distant moon; A physicist discovers a "
       "way to send messages into the past; Rich world-building meets unforgettable characters; An "
       "artificial intelligence questions what it means to be human; Sweeping battles rage across a "
       "galactic empire; A haunting vision of a world after collapse"),
    _c("Houseplants", "Patio, Lawn & Garden", 30.0,
       "Monstera; Snake Plant; Pothos; Fiddle Leaf Fig; Succulent Set; Peace Lily; ZZ Plant; Ceramic "
       "Planter; Potting Mix",
       "Low-Light; Pet-Friendly; Air-Purifying; Variegated; Trailing; Easy-Care; Tropical; "
       "Drought-Tolerant; Rare; Self-Watering; Hanging; Live",
       "Greenleaf Nursery; Urban Jungle; Rootbound; Sprout & Stem; Fernwood Gardens",
       "for bright living rooms; for low-light apartments; for beginners with busy schedules; for "
       "bathroom shelves and humid corners; for a cheerful office desk; for plant collectors",
       "It ships in a breathable nursery pot with care instructions; Glossy leaves unfurl quickly in "
       "warm, humid rooms; It tolerates missed waterings and low light; It helps filter indoor air and "
       "brightens any room; A drainage hole and saucer prevent root rot; A chunky aroid mix with bark "
       "and perlite grows healthy roots; Cascading vines look great on high shelves; Each plant is "
       "hand-picked and rooted before shipping"),
    _c("Kitchen Knives", "Home & Kitchen", 70.0,
       "Chef's Knife; Santoku Knife; Paring Knife; Bread Knife; Knife Block Set; Whetstone; Boning "
       "Knife; Nakiri Knife; Honing Steel",
       "Damascus; Forged; Japanese; German Steel; Razor-Sharp; Full-Tang; High-Carbon; Ergonomic; "
       "Serrated; Hand-Sharpened; Ceramic; Professional",
       "Kirimaru; Edgecraft Forge; Steelheart; Sakura Blade; Ironwood Cutlery",
       "for slicing vegetables paper-thin; for serious home cooks; for breaking down whole chickens; "
       "for crusty sourdough loaves; for a professional kitchen; for keeping every edge razor-sharp",
       "Sixty-seven layers of Damascus steel give a striking pattern; A full-tang handle balances the "
       "blade in your hand; It is hand-sharpened to a fifteen-degree edge; High-carbon steel holds its "
       "edge through months of prep; A pakkawood handle resists moisture and stays comfortable; It "
       "comes with a protective saya sheath; A double-sided whetstone offers thousand and six-thousand "
       "grit; A scalloped blade keeps food from sticking"),
    _c("Yoga", "Sports & Outdoors", 40.0,
       "Yoga Mat; Yoga Blocks; Meditation Cushion; Yoga Strap; Yoga Leggings; Yoga Wheel; Bolster "
       "Pillow; Mat Towel; Travel Mat",
       "Non-Slip; Eco-Friendly; Extra-Thick; Cork; Natural Rubber; Foldable; Sweat-Absorbing; "
       "High-Waisted; Cushioned; Alignment; Organic Cotton; Lightweight",
       "Lotus Flow; Zen Habitat; Asana Studio; Mindful Mat Co.; Sunsalute",
       "for hot yoga and vinyasa flow; for restorative and yin practice; for daily meditation; for "
       "beginners building flexibility; for yoga on the go; for pilates and floor workouts",
       "A grippy surface keeps hands planted in downward dog; Alignment lines help you find the right "
       "stance; Dense cushioning protects knees and wrists; It is made from natural tree rubber and "
       "sustainable cork; It absorbs sweat during the most intense hot classes; It folds flat to fit in "
       "a carry-on bag; Four-way stretch fabric moves with every pose; It supports deep stretches and "
       "gentle backbends"),
    _c("Photography", "Camera & Photo", 250.0,
       "Mirrorless Camera; Prime Lens; Zoom Lens; Tripod; Camera Bag; Lens Filter; Camera Strap; Flash "
       "Unit; Memory Card",
       "Full-Frame; Weather-Sealed; Fast; Wide-Angle; Telephoto; Carbon Fiber; Compact; Vintage-Style; "
       "Stabilized; Macro; Professional; Travel",
       "Aperture Optics; Lumen Labs; Shutterbug; Focal Point; Silverhalide",
       "for landscape photography at golden hour; for street photography; for portraits with creamy "
       "background blur; for wildlife and sports; for travel photographers who pack light; for sharp "
       "close-ups of insects and flowers",
       "An f/1.8 aperture gathers light for night shots; In-body stabilization keeps handheld shots "
       "sharp; Weather sealing keeps out dust and drizzle; Carbon fiber legs extend to eye level and "
       "fold to fifteen inches; Fast autofocus tracks moving subjects; Padded dividers protect two "
       "bodies and four lenses; Multi-coated glass cuts flare and ghosting; It records sharp 4K video "
       "with clean colours"),
    _c("Baking", "Home & Kitchen", 35.0,
       "Stand Mixer; Bundt Pan; Baking Sheet; Proofing Basket; Silicone Baking Mat; Rolling Pin; Loaf "
       "Pan; Piping Set; Bread Flour",
       "Nonstick; Heavy-Duty; Silicone; Cast Aluminum; Marble; Professional; Rustic; Artisan; "
       "Unbleached; Organic; Reusable; Classic",
       "Golden Crust; Flour & Finch; Oven Story; Sugarbloom; Hearthside Bakeware",
       "for crusty sourdough loaves; for holiday cookies; for layered birthday cakes; for flaky pastry "
       "and pies; for weekend bread baking; for decorating cupcakes",
       "Heavy-gauge metal bakes evenly without hot spots; A nonstick coating releases cakes cleanly; A "
       "rattan basket gives loaves a classic spiral crust; Ten speeds handle everything from meringue "
       "to dough; Stone-milled flour with high protein gives a strong crumb; It is dishwasher safe and "
       "easy to store; It includes twelve stainless piping tips; A silicone mat replaces parchment "
       "paper for years"),
    _c("Cycling", "Sports & Outdoors", 80.0,
       "Road Bike Helmet; Bike Lights; Cycling Jersey; Bib Shorts; Clipless Pedals; Bike Computer; Floor "
       "Pump; Saddle Bag; Bike Lock",
       "Aero; Lightweight; Rechargeable; Padded; Carbon; Ventilated; Waterproof; Gravel; "
       "High-Visibility; Compact; Wireless; Mountain",
       "Velocita; Crankworks; Spokeline; Pelotonic; Chainring Co.",
       "for long road rides; for commuting in traffic; for gravel adventures; for mountain bike trails; "
       "for century rides and sportives; for riding after dark",
       "Aerodynamic shaping saves watts at speed; It is USB-C rechargeable with a four-hour runtime; A "
       "chamois pad keeps you comfortable for hours; GPS navigation gives turn-by-turn directions; "
       "Tool-free mounts fit any handlebar; A hardened steel shackle resists bolt cutters; It pumps to "
       "160 psi with a precise gauge; Mesh panels keep air flowing on climbs"),
    _c("Jazz Records", "CDs & Vinyl", 28.0,
       "Vinyl LP; Live Album; Box Set; Studio Album; Double LP; Anthology; Reissue; Soundtrack; "
       "Compilation",
       "Bebop; Cool Jazz; Modal; Hard Bop; Swing; Latin Jazz; Remastered; 180-Gram; Live; Big Band; "
       "Fusion; Classic",
       "Blue Ember Records; Nightowl Jazz; Smokey Room; Saxophonia; Brass & Bourbon",
       "for late-night listening; for collectors of original pressings; for fans of saxophone legends; "
       "for a Sunday morning with coffee; for dinner parties; for discovering the roots of jazz",
       "Recorded live at a legendary New York club; A quintet trades fiery solos over a walking bass; "
       "It is remastered from the original analog tapes; It is pressed on heavy 180-gram vinyl; It "
       "includes liner notes and rare studio photographs; Lush big band arrangements ride a swinging "
       "rhythm section; Modal improvisations stretch out over fifteen minutes; Brazilian rhythms meet "
       "smoky trumpet lines"),
    _c("Tea", "Grocery", 20.0,
       "Loose Leaf Tea; Matcha Powder; Teapot; Tea Sampler; Herbal Infusion; Oolong Tea; Chai Blend; "
       "Tea Kettle; Tea Infuser",
       "Organic; Ceremonial-Grade; Green; Earl Grey; Jasmine; Spiced; Caffeine-Free; Cast Iron; Glass; "
       "First-Flush; Smoky; Hand-Rolled",
       "Leaf & Kettle; Jade Mountain; Steepwell; Camellia House; Oolong Road",
       "for a calm afternoon cup; for matcha lattes; for cozy winter evenings; for a tea ceremony; for "
       "iced tea in summer; for a caffeine-free bedtime",
       "Whole leaves unfurl to release floral aromas; Stone-ground leaves whisk into a vivid green "
       "froth; Warming cinnamon, cardamom and ginger fill the cup; It is picked in spring from high "
       "mountain gardens; A fine mesh infuser catches every leaf; Cast iron keeps tea hot for an hour; "
       "It is blended with chamomile and lavender; A resealable tin keeps it fresh"),
    _c("Fishing", "Sports & Outdoors", 60.0,
       "Spinning Reel; Fly Rod; Tackle Box; Fishing Line; Lure Kit; Waders; Landing Net; Baitcasting "
       "Reel; Fly Assortment",
       "Saltwater; Freshwater; Braided; Telescopic; Graphite; Ultralight; Sealed; Breathable; "
       "Hand-Tied; Corrosion-Resistant; Bass; Trout",
       "Riverbend; Tightline; Deep Current; Bass Hollow; Castaway Tackle",
       "for trout in mountain streams; for bass in weedy lakes; for surf casting from the beach; for "
       "kayak fishing; for beginners learning to cast; for fly fishing on summer evenings",
       "A smooth drag system fights big fish without slipping; A graphite blank feels every light bite; "
       "Organized trays hold hooks, weights and lures; Braided line casts farther with no stretch; "
       "Hand-tied flies match the local hatch; Sealed bearings resist salt and sand; A rubber mesh net "
       "protects the fish; Breathable fabric keeps you dry in cold rivers"),
    _c("Aquariums", "Pet Supplies", 45.0,
       "Aquarium Kit; Canister Filter; Aquarium Heater; LED Light; Aquascaping Tools; Gravel Substrate; "
       "Water Conditioner; Fish Food; Air Pump",
       "Planted; Nano; Freshwater; Reef; Rimless; Adjustable; Quiet; Full-Spectrum; Tropical; Low-Iron; "
       "Automatic; Betta",
       "Coral Cove; Aquaflora; Bluewater Systems; Tetra Bay; Reefkeeper",
       "for planted aquascapes; for a betta's first home; for tropical community tanks; for reef and "
       "coral keepers; for beginners starting their first tank; for a quiet bedroom aquarium",
       "A whisper-quiet pump runs all night without humming; Full-spectrum light grows lush carpeting "
       "plants; Three-stage filtration keeps water crystal clear; An adjustable thermostat holds a "
       "steady temperature; Low-iron glass shows true colours from every angle; A nutrient-rich "
       "substrate feeds plant roots; It makes tap water safe for fish in seconds; Slow-sinking pellets "
       "suit community fish"),
    _c("Watercolor Painting", "Arts & Crafts", 30.0,
       "Watercolor Set; Sable Brushes; Cold-Press Paper; Sketchbook; Paint Palette; Masking Fluid; "
       "Travel Kit; Brush Pens; Easel",
       "Artist-Grade; Student; Portable; Cotton; Handmade; Vibrant; Refillable; Acid-Free; "
       "Professional; Botanical; Pocket; Granulating",
       "Brushstroke; Palette & Pine; Wetedge Arts; Pigmentary; Aquarelle House",
       "for plein air painting; for botanical illustration; for beginners learning washes; for urban "
       "sketching; for loose landscape studies; for journaling on the go",
       "Highly pigmented colours layer beautifully; Cotton paper handles heavy washes; A fine point "
       "holds a generous load of water; It folds into a pocket-sized palette with a water brush; "
       "Lightfast pigments will not fade over time; Acid-free pages resist yellowing; Granulating "
       "pigments create beautiful textures; A sturdy tripod easel holds the board outdoors"),
)  # fmt: skip


@dataclass(frozen=True)
class _CatalogDraw:
    catalog: Catalog
    category: npt.NDArray[np.int64]
    style: npt.NDArray[np.float64]  # [n_items, _DIM], unit rows
    log_pop: npt.NDArray[np.float64]
    arrival_days: npt.NDArray[np.float64]
    late: npt.NDArray[np.bool_]


def load_synthetic(
    *,
    n_users: int = 1000,
    n_items: int = 1500,
    n_categories: int = 12,
    mean_history: float = 30.0,
    cold_item_fraction: float = 0.1,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> Dataset:
    """Build the generated default dataset (no files needed; see the module docstring).

    Parameters
    ----------
    n_users, n_items : int
        Vocabulary sizes. Every user makes at least 5 draws (a repeated draw that cannot be re-drawn
        among unseen items is dropped: rare, except in tiny catalogues). Build time grows with
        ``n_users * mean_history * n_items / n_categories`` (about 0.3-0.5 s at the defaults on an
        idle 2-core machine).
    n_categories : int
        Number of product categories, 1 to ``len(CATEGORIES)`` (16).
    mean_history : float
        Mean number of interactions per user (>= 6).
    cold_item_fraction : float
        Share of the items (the last ones by index) that arrive late in the window, in [0, 0.5].
    seed : int
        Seeds every random draw; same arguments give identical data.
    data_dir : path, optional
        Ignored (accepted so that every dataset loader has the same signature).

    Returns
    -------
    Dataset
        ``name="synthetic"``; ``interactions`` with ``timestamp`` (unix seconds, 2023-01-01 onwards),
        ``rating`` (1-5) and unit ``weight``, rows in time order; ``catalog`` with fields ``title``,
        ``categories`` (``"|"``-separated path, e.g. ``"Sports & Outdoors|Hiking Gear"``), ``brand``,
        ``description``, attributes ``category`` (int64) and ``price``
        (float64), and ``arrival`` (unix seconds); ``user_features["age_group"]`` (object[n_users]);
        no shipped split.

    Examples
    --------
    >>> data = load_synthetic(n_users=50, n_items=80, seed=1)
    >>> data.catalog.n_items, data.interactions.n_users
    (80, 50)
    """
    del data_dir
    n_users = check_positive_int("n_users", n_users)
    n_items = check_positive_int("n_items", n_items)
    n_categories = check_positive_int("n_categories", n_categories)
    if n_categories > len(CATEGORIES):
        raise ConfigError(f"n_categories must lie in [1, {len(CATEGORIES)}], got {n_categories}")
    if n_items < 2 * n_categories:
        raise ConfigError(f"n_items must be at least 2 * n_categories = {2 * n_categories}, got {n_items}")
    mean_history = check_range("mean_history", mean_history, _MIN_HISTORY + 1, 1e6)
    cold_item_fraction = check_range("cold_item_fraction", cold_item_fraction, 0.0, 0.5)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")

    catalog_seq, user_seq, event_seq = np.random.SeedSequence(int(seed)).spawn(3)
    draw = _make_catalog(np.random.default_rng(catalog_seq), n_items, n_categories, cold_item_fraction)
    user_rng = np.random.default_rng(user_seq)
    age, theta, style = _make_users(user_rng, n_users, draw)
    user, item, days, rating = _make_events(
        np.random.default_rng(event_seq), draw, theta, style, mean_history, n_items
    )
    order = np.lexsort((item, user, days))
    interactions = Interactions.from_arrays(
        user[order],
        item[order],
        user_ids=[f"U{u:05d}" for u in range(n_users)],
        item_ids=draw.catalog.item_ids,
        timestamp=np.round(EPOCH + days[order] * DAY),
        rating=rating[order],
    )
    source = (
        "GENERATED data, not real behaviour: explorec.data.synthetic.load_synthetic("
        f"n_users={n_users}, n_items={n_items}, n_categories={n_categories}, mean_history={mean_history:g}, "
        f"cold_item_fraction={cold_item_fraction:g}, seed={seed}) — invented products with templated text "
        "and simulated users (Dirichlet category tastes, text-linked style preferences, long-tail "
        "popularity, late-arriving cold items)"
    )
    logger.debug("synthetic dataset: %r", interactions)
    return Dataset("synthetic", interactions, draw.catalog, user_features={"age_group": age}, source=source)


# ---------------------------------------------------------------------------- catalogue
def _make_catalog(
    rng: np.random.Generator, n_items: int, n_categories: int, cold_item_fraction: float
) -> _CatalogDraw:
    cats = CATEGORIES[:n_categories]
    # every vocabulary word gets a hidden style vector, so shared words mean shared taste
    embed: dict[str, npt.NDArray[np.float64]] = {}

    def vec(key: str) -> npt.NDArray[np.float64]:
        if key not in embed:
            embed[key] = rng.standard_normal(_DIM)
        return embed[key]

    for c in cats:
        for kind in ("nouns", "adjectives", "brands", "uses", "features"):
            for word in getattr(c, kind):
                vec(f"{c.name}/{word}")
    for tier, _ in _TIERS:
        vec(f"tier/{tier}")

    share = rng.dirichlet(np.full(n_categories, 8.0))
    category = rng.choice(n_categories, size=n_items, p=share).astype(np.int64)
    category[:n_categories] = np.arange(n_categories)  # every category has a (warm) item
    log_pop = rng.normal(0.0, 1.2, size=n_items)
    price_noise = rng.lognormal(0.0, 0.4, size=n_items)

    titles, descriptions, brands, departments = [], [], [], []
    style = np.empty((n_items, _DIM))
    price = np.empty(n_items)
    for i in range(n_items):
        c = cats[category[i]]
        noun = c.nouns[rng.integers(len(c.nouns))]
        a1, a2 = (c.adjectives[k] for k in rng.choice(len(c.adjectives), size=2, replace=False))
        brand = c.brands[rng.integers(len(c.brands))]
        use = c.uses[rng.integers(len(c.uses))]
        n_feat = int(rng.integers(3))
        feats = [c.features[k] for k in rng.choice(len(c.features), size=n_feat, replace=False)]
        tier_k = int(rng.integers(len(_TIERS))) if rng.random() < 0.35 else -1
        two_adjectives = rng.random() < 0.4

        title_words = [brand]
        if tier_k >= 0:
            title_words.append(_TIERS[tier_k][0])
        title_words += [a1, a2] if two_adjectives else [a1]
        title_words.append(noun)
        titles.append(" ".join(title_words))
        # 1-3 sentences: the use sentence, then up to two of the others in a random order
        others: list[tuple[str, str]] = [(f"{a2} design from {brand}.", "adjective 2")]
        others += [(f"{f}.", f) for f in feats]
        if tier_k >= 0:
            others.append((_TIER_SENTENCES[_TIERS[tier_k][0]], "tier"))
        shown = [others[k] for k in rng.permutation(len(others))[: int(rng.integers(3))]]
        descriptions.append(" ".join([f"{a1} {noun.lower()} {use}.", *(text for text, _ in shown)]))
        brands.append(brand)
        departments.append(f"{c.department}|{c.name}")

        # the hidden style is built only from words the customer can read
        words = [a1, noun, brand, use] + [f for _, f in shown if f not in ("adjective 2", "tier")]
        if two_adjectives or any(f == "adjective 2" for _, f in shown):
            words.append(a2)
        v = sum((vec(f"{c.name}/{w}") for w in words), start=np.zeros(_DIM))
        if tier_k >= 0:
            v = v + 0.7 * vec(f"tier/{_TIERS[tier_k][0]}")
        v = v + 0.3 * rng.standard_normal(_DIM)
        style[i] = v / np.linalg.norm(v)
        price[i] = c.price * price_noise[i] * (_TIERS[tier_k][1] if tier_k >= 0 else 1.0)

    n_late = round(cold_item_fraction * n_items)
    n_late = min(n_late, n_items - n_categories)
    late = np.zeros(n_items, dtype=bool)
    late[n_items - n_late :] = True
    arrival_days = -rng.uniform(1.0, 365.0, size=n_items)  # the old catalogue predates the window
    arrival_days[late] = np.sort(rng.uniform(0.70, 0.90, size=n_late)) * HORIZON_DAYS

    width = max(5, len(str(n_items - 1)))
    item_ids = np.empty(n_items, dtype=object)
    item_ids[:] = [f"I{i:0{width}d}" for i in range(n_items)]
    catalog = Catalog(
        item_ids,
        fields={
            "title": _objects(titles),
            "categories": _objects(departments),
            "brand": _objects(brands),
            "description": _objects(descriptions),
        },
        attributes={"category": category.copy(), "price": np.floor(price) + 0.99},
        arrival=np.round(EPOCH + arrival_days * DAY),
    )
    return _CatalogDraw(catalog, category, style, log_pop, arrival_days, late)


def _objects(values: list[str]) -> npt.NDArray[np.object_]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


# ---------------------------------------------------------------------------- users
def _make_users(
    rng: np.random.Generator, n_users: int, draw: _CatalogDraw
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n_categories = int(draw.category.max()) + 1
    base = rng.dirichlet(np.full(n_categories, 4.0))
    tilt = rng.dirichlet(np.full(n_categories, 1.0), size=len(AGE_GROUPS))
    group = rng.choice(len(AGE_GROUPS), size=n_users, p=_AGE_SHARE)
    alpha = 1.5 * (0.5 * base[None, :] + 0.5 * tilt[group])  # [n_users, n_categories]
    gamma = rng.gamma(alpha)  # Dirichlet(alpha) rows as normalised gamma draws
    theta = gamma / gamma.sum(axis=1, keepdims=True)  # [n_users, n_categories]
    style = rng.standard_normal((n_users, _DIM))
    age = _objects([AGE_GROUPS[g] for g in group])
    return age, theta, style


# ---------------------------------------------------------------------------- events
def _make_events(
    rng: np.random.Generator,
    draw: _CatalogDraw,
    theta: npt.NDArray[np.float64],
    style: npt.NDArray[np.float64],
    mean_history: float,
    n_items: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    n_users, n_categories = int(theta.shape[0]), int(theta.shape[1])
    extra_mean = mean_history - _MIN_HISTORY
    sigma = 0.8
    extra = rng.lognormal(np.log(extra_mean) - sigma**2 / 2, sigma, size=n_users)
    counts = np.minimum(_MIN_HISTORY + np.rint(extra).astype(np.int64), max(_MIN_HISTORY, n_items // 3))
    user = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    n = user.size
    first = np.zeros(n, dtype=bool)
    first[np.concatenate([[0], np.cumsum(counts)[:-1]])] = True

    # activity window per user inside the 180-day period, sorted event times within it
    start = rng.uniform(0.0, 0.9, size=n_users) * HORIZON_DAYS
    end = np.minimum(HORIZON_DAYS, start + rng.beta(2.0, 2.0, size=n_users) * HORIZON_DAYS)
    days = start[user] + rng.random(n) * (end - start)[user]
    days = days[np.lexsort((days, user))]

    # sessions: keep the previous category with probability _STICKINESS
    fresh = (rng.random(n)[:, None] > np.cumsum(theta, axis=1)[user]).sum(axis=1)
    fresh = np.minimum(fresh, n_categories - 1)
    keep = (rng.random(n) < _STICKINESS) & ~first
    source = np.maximum.accumulate(np.where(keep, 0, np.arange(n)))
    category = fresh[source].astype(np.int64)

    items_by_category = [np.flatnonzero(draw.category == c) for c in range(n_categories)]
    item = _sample_fast(rng, draw, style, user, category, days, items_by_category)
    todo = _repeats(user, item, n_items)
    # repeated (user, item) pairs: re-draw from the same distribution (rejection), then, for the few
    # left, draw exactly among the user's unseen items
    for attempt in range(8):
        if todo.size == 0:
            break
        if attempt < 6:
            item[todo] = _sample_fast(
                rng, draw, style, user[todo], category[todo], days[todo], items_by_category
            )
        else:
            taken = np.unique(user[item >= 0] * n_items + item[item >= 0])
            item[todo] = _sample(
                rng, draw, style, user[todo], category[todo], days[todo], items_by_category, taken
            )
        todo = _repeats(user, item, n_items)
    drop = np.zeros(n, dtype=bool)
    drop[todo] = True
    drop |= item < 0
    if drop.any():
        logger.debug("synthetic: %d repeated draws left after re-drawing were not kept", int(drop.sum()))
    user, item, days = user[~drop], item[~drop], days[~drop]
    affinity = np.einsum("nd,nd->n", style[user], draw.style[item])
    rating = np.clip(np.rint(3.7 + 0.6 * affinity + rng.normal(0.0, 0.7, size=user.size)), 1, 5)
    return user, item, days, rating.astype(np.float32)


def _repeats(user: npt.NDArray[np.int64], item: npt.NDArray[np.int64], n_items: int) -> npt.NDArray[np.int64]:
    """Events whose (user, item) pair already occurred at an earlier event."""
    key = np.where(item >= 0, user * n_items + item, -1 - np.arange(user.size))
    _, first = np.unique(key, return_index=True)
    repeat = np.ones(user.size, dtype=bool)
    repeat[first] = False
    return np.flatnonzero(repeat)


def _sample_fast(
    rng: np.random.Generator,
    draw: _CatalogDraw,
    style: npt.NDArray[np.float64],
    user: npt.NDArray[np.int64],
    category: npt.NDArray[np.int64],
    days: npt.NDArray[np.float64],
    items_by_category: list[npt.NDArray[np.int64]],
) -> npt.NDArray[np.int64]:
    """One item per event from ``P(i | u, c, t)``, without excluding items the user already has.

    Exact and cheap: the always-available (warm) items' distribution depends only on (user,
    category), so it is computed once per pair and sampled by inverse CDF; the few late items,
    whose availability and boost depend on the event time, are weighed per event.
    """
    out = np.full(user.size, -1, dtype=np.int64)
    uniform = rng.random(user.size)
    coin = rng.random(user.size)
    for c, items in enumerate(items_by_category):
        rows = np.flatnonzero(category == c)
        if rows.size == 0:
            continue
        warm, late = items[~draw.late[items]], items[draw.late[items]]
        pairs, local = np.unique(user[rows], return_inverse=True)  # users drawing in this category
        logits = draw.log_pop[warm] + _STYLE_WEIGHT * (style[pairs] @ draw.style[warm].T)  # [G, W]
        top = logits.max(axis=1, keepdims=True)
        cdf = np.cumsum(np.exp(logits - top), axis=1)  # [G, W]
        log_mass_warm = top[:, 0] + np.log(cdf[:, -1])  # [G]
        # row r's normalised CDF shifted into (r, r + 1]: one searchsorted serves every row
        flat = (cdf / cdf[:, -1:] + np.arange(pairs.size)[:, None]).ravel()
        pick = np.searchsorted(flat, local + uniform[rows], side="right") - local * warm.size
        choice = warm[np.clip(pick, 0, warm.size - 1)]
        if late.size:
            age = days[rows][:, None] - draw.arrival_days[late][None, :]  # [E, L] days since arrival
            late_logits = draw.log_pop[late] + _STYLE_WEIGHT * (style[user[rows]] @ draw.style[late].T)
            late_logits += _NOVELTY_BOOST * np.exp(-np.maximum(age, 0.0) / _NOVELTY_DAYS)
            late_logits[age < 0.0] = -np.inf  # not arrived yet
            shift = np.max(late_logits, axis=1, keepdims=True)
            shift[~np.isfinite(shift)] = 0.0
            with np.errstate(divide="ignore"):  # log(0) = -inf when no late item has arrived
                log_mass_late = shift[:, 0] + np.log(np.exp(late_logits - shift).sum(axis=1))  # [E]
            p_late = np.exp(log_mass_late - np.logaddexp(log_mass_late, log_mass_warm[local]))
            take = coin[rows] < p_late
            if take.any():
                noisy = late_logits[take] + rng.gumbel(size=(int(take.sum()), late.size))
                choice[take] = late[np.argmax(noisy, axis=1)]
        out[rows] = choice
    return out


def _sample(
    rng: np.random.Generator,
    draw: _CatalogDraw,
    style: npt.NDArray[np.float64],
    user: npt.NDArray[np.int64],
    category: npt.NDArray[np.int64],
    days: npt.NDArray[np.float64],
    items_by_category: list[npt.NDArray[np.int64]],
    taken: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """One item per event by the Gumbel-max trick over the event's category; -1 when none is left."""
    n_items = draw.category.size
    out = np.full(user.size, -1, dtype=np.int64)
    for c, items in enumerate(items_by_category):
        rows = np.flatnonzero(category == c)
        if rows.size == 0 or items.size == 0:
            continue
        u, t = user[rows], days[rows]
        logits = draw.log_pop[items][None, :] + _STYLE_WEIGHT * (style[u] @ draw.style[items].T)  # [E, I_c]
        logits += rng.gumbel(size=logits.shape)
        late = np.flatnonzero(draw.late[items])
        if late.size:  # only late items can be unavailable or fresh
            age = t[:, None] - draw.arrival_days[items[late]][None, :]  # [E, L] days since arrival
            boost = _NOVELTY_BOOST * np.exp(-np.maximum(age, 0.0) / _NOVELTY_DAYS)
            logits[:, late] = np.where(age >= 0.0, logits[:, late] + boost, -np.inf)
        if taken.size:
            key = u[:, None] * n_items + items[None, :]
            pos = np.minimum(np.searchsorted(taken, key), taken.size - 1)
            logits[taken[pos] == key] = -np.inf
        best = np.argmax(logits, axis=1)
        ok = np.isfinite(logits[np.arange(rows.size), best])
        out[rows] = np.where(ok, items[best], -1)
    return out
