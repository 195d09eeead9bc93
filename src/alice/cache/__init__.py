"""Response cache: deterministic answers reused across identical requests.

`cache_key` decides whether a request may be cached and under which key;
`MemoryCache` keeps answers in process, `RedisCache` shares them between replicas, both
behind the `ResponseCache` protocol; `SingleFlight` makes concurrent identical requests
wait for one model call instead of each making their own.
"""

from alice.cache.key import CACHE_KEY_VERSION, cache_key
from alice.cache.memory import MemoryCache
from alice.cache.redis import RedisCache
from alice.cache.singleflight import SingleFlight
from alice.cache.types import CachedAnswer, CacheStats, ResponseCache

__all__ = [
    "CACHE_KEY_VERSION",
    "CacheStats",
    "CachedAnswer",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "SingleFlight",
    "cache_key",
]
