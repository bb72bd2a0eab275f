"""The morality questionnaire: fetch the pinned ProgressGym question sets, parse, subsample, store.

Public API::

    build_questionnaire(protocol, out_dir, per_dimension=None, seed=0, csv_overrides=None)
    load_questionnaire(dir) -> Questionnaire
    load_moralchoice / load_foundation / load_views / load_wvs (path) -> (items, decisions)
    stratified_subsample(items, per_dimension, seed)
"""

from progalign.questionnaire.fetch import PROTOCOLS, QuestionnaireError, build_questionnaire
from progalign.questionnaire.items import GROUPS, LABEL_VALUES, RULES, THEMES, WORLDVIEWS, Item
from progalign.questionnaire.loaders import (
    Decision,
    WvsPrototype,
    load_foundation,
    load_moralchoice,
    load_views,
    load_wvs,
    rule_key,
)
from progalign.questionnaire.store import Questionnaire, load_questionnaire
from progalign.questionnaire.subsample import stratified_subsample

__all__ = [
    "GROUPS",
    "LABEL_VALUES",
    "PROTOCOLS",
    "RULES",
    "THEMES",
    "WORLDVIEWS",
    "Decision",
    "Item",
    "Questionnaire",
    "QuestionnaireError",
    "WvsPrototype",
    "build_questionnaire",
    "load_foundation",
    "load_moralchoice",
    "load_questionnaire",
    "load_views",
    "load_wvs",
    "rule_key",
    "stratified_subsample",
]
